// BPE training with incremental pair counts (only the chunks that contain the merged pair are
// touched; a lazy max-heap finds the next pair) and rank-ordered encoding with a chunk cache.
#include "recipes/data/bpe.h"

#include <algorithm>
#include <queue>

#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/io/file_util.h"

namespace attn {
namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

enum class CharClass { kLetter, kDigit, kSpace, kOther };

CharClass char_class(unsigned char c) {
  // Bytes >= 0x80 count as letters so multi-byte UTF-8 characters stay inside words.
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) return CharClass::kLetter;
  if (c >= '0' && c <= '9') return CharClass::kDigit;
  if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f')
    return CharClass::kSpace;
  return CharClass::kOther;
}

// Merges every occurrence of (a, b), left to right, into z. Training and encoding share it.
bool apply_merge(std::vector<int32_t>& seq, int32_t a, int32_t b, int32_t z) {
  size_t out = 0;
  bool changed = false;
  for (size_t i = 0; i < seq.size(); ++i) {
    if (i + 1 < seq.size() && seq[i] == a && seq[i + 1] == b) {
      seq[out++] = z;
      ++i;
      changed = true;
    } else {
      seq[out++] = seq[i];
    }
  }
  seq.resize(out);
  return changed;
}

}  // namespace

std::vector<std::string_view> bpe_chunks(std::string_view text) {
  std::vector<std::string_view> chunks;
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const size_t start = i;
    // A single space joins the run after it (" the"), like the space before a word.
    if (text[i] == ' ' && i + 1 < n && char_class(text[i + 1]) != CharClass::kSpace) ++i;
    const CharClass c = char_class(text[i]);
    ++i;
    while (i < n && char_class(text[i]) == c) {
      // Leave the last space of a whitespace run to the word after it.
      if (c == CharClass::kSpace && text[i] == ' ' && i + 1 < n &&
          char_class(text[i + 1]) != CharClass::kSpace)
        break;
      ++i;
    }
    chunks.push_back(text.substr(start, i - start));
  }
  return chunks;
}

std::vector<BpeMerge> train_bpe(const std::vector<std::string_view>& texts, uint32_t vocab_size,
                                const BpeProgress& progress) {
  if (vocab_size < 256) ATTN_FAIL(kConfig, "BPE vocab size {} is below 256", vocab_size);
  // Distinct chunks with their frequencies: pairs are counted once per distinct chunk.
  std::unordered_map<std::string_view, int64_t> freq_of;
  for (std::string_view text : texts)
    for (std::string_view chunk : bpe_chunks(text)) ++freq_of[chunk];
  std::vector<std::pair<std::string_view, int64_t>> distinct(freq_of.begin(), freq_of.end());
  std::sort(distinct.begin(), distinct.end());  // hash order must not leak into the result
  std::vector<std::vector<int32_t>> words(distinct.size());
  std::vector<int64_t> freq(distinct.size());
  for (size_t w = 0; w < distinct.size(); ++w) {
    for (unsigned char ch : distinct[w].first) words[w].push_back(ch);
    freq[w] = distinct[w].second;
  }

  std::unordered_map<uint64_t, int64_t> count;
  std::unordered_map<uint64_t, std::vector<uint32_t>> where;  // may hold stale word ids
  for (size_t w = 0; w < words.size(); ++w)
    for (size_t i = 0; i + 1 < words[w].size(); ++i) {
      const uint64_t k = pair_key(words[w][i], words[w][i + 1]);
      count[k] += freq[w];
      auto& list = where[k];
      if (list.empty() || list.back() != w) list.push_back(static_cast<uint32_t>(w));
    }
  // Max-heap on (count, then smallest pair). Counts of old pairs only ever decrease, so a stale
  // entry overestimates; it is re-pushed with the true count when it surfaces.
  using Entry = std::pair<int64_t, uint64_t>;
  auto less = [](const Entry& x, const Entry& y) {
    return x.first != y.first ? x.first < y.first : x.second > y.second;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(less)> heap(less);
  for (const auto& [k, c] : count) heap.push({c, k});

  std::vector<BpeMerge> merges;
  std::vector<uint32_t> seen(words.size(), ~0u);
  const size_t target = vocab_size - 256;
  while (merges.size() < target) {
    if (heap.empty())
      ATTN_FAIL(kInput, "BPE: the training text allows only {} merges, {} requested", merges.size(),
                target);
    const auto [c, k] = heap.top();
    heap.pop();
    auto it = count.find(k);
    const int64_t now = it == count.end() ? 0 : it->second;
    if (now != c) {
      if (now > 0) heap.push({now, k});
      continue;
    }
    const int32_t a = static_cast<int32_t>(k >> 32), b = static_cast<int32_t>(k & 0xFFFFFFFFu);
    const int32_t z = 256 + static_cast<int32_t>(merges.size());
    const uint32_t stamp = static_cast<uint32_t>(merges.size());
    merges.push_back({a, b});
    std::vector<uint64_t> touched;
    std::vector<uint32_t> words_of_pair = std::move(where[k]);
    where.erase(k);
    for (uint32_t w : words_of_pair) {
      if (seen[w] == stamp) continue;
      seen[w] = stamp;
      std::vector<int32_t>& seq = words[w];
      std::vector<int32_t> before = seq;
      if (!apply_merge(seq, a, b, z)) continue;
      for (size_t i = 0; i + 1 < before.size(); ++i)
        count[pair_key(before[i], before[i + 1])] -= freq[w];
      for (size_t i = 0; i + 1 < seq.size(); ++i) {
        const uint64_t nk = pair_key(seq[i], seq[i + 1]);
        count[nk] += freq[w];
        if (seq[i] == z || seq[i + 1] == z) {
          auto& list = where[nk];
          if (list.empty() || list.back() != w) list.push_back(w);
          touched.push_back(nk);
        }
      }
    }
    count.erase(k);
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (uint64_t nk : touched)
      if (count[nk] > 0) heap.push({count[nk], nk});
    if (progress && merges.size() % 256 == 0) progress(merges.size(), c);
  }
  return merges;
}

BpeTokenizer::BpeTokenizer(std::vector<BpeMerge> merges) : merges_(std::move(merges)) {
  pieces_.reserve(256 + merges_.size());
  for (int b = 0; b < 256; ++b) pieces_.emplace_back(1, static_cast<char>(b));
  for (size_t i = 0; i < merges_.size(); ++i) {
    const int32_t id = 256 + static_cast<int32_t>(i);
    const auto [a, b] = merges_[i];
    if (a < 0 || b < 0 || a >= id || b >= id)
      ATTN_FAIL(kInput, "BPE merge {} = ({}, {}) refers to an id not defined before {}", i, a, b,
                id);
    if (!rank_of_.emplace(pair_key(a, b), static_cast<int32_t>(i)).second)
      ATTN_FAIL(kInput, "BPE merge {} = ({}, {}) repeats an earlier merge", i, a, b);
    pieces_.push_back(pieces_[a] + pieces_[b]);
  }
}

void BpeTokenizer::encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const {
  std::vector<int32_t> seq;
  seq.reserve(chunk.size());
  for (unsigned char c : chunk) seq.push_back(c);
  // Applying the lowest-ranked present pair each time reproduces training's merge order.
  while (seq.size() > 1) {
    int32_t best = -1;
    for (size_t i = 0; i + 1 < seq.size(); ++i) {
      auto it = rank_of_.find(pair_key(seq[i], seq[i + 1]));
      if (it != rank_of_.end() && (best < 0 || it->second < best)) best = it->second;
    }
    if (best < 0) break;
    apply_merge(seq, merges_[best][0], merges_[best][1], 256 + best);
  }
  out.insert(out.end(), seq.begin(), seq.end());
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3);
  // Natural text repeats its chunks constantly; a per-call cache makes encoding ~linear.
  std::unordered_map<std::string_view, std::pair<size_t, size_t>> cache;
  for (std::string_view chunk : bpe_chunks(text)) {
    auto it = cache.find(chunk);
    if (it != cache.end()) {
      const auto [at, len] = it->second;
      for (size_t i = 0; i < len; ++i) {
        const int32_t id = out[at + i];
        out.push_back(id);
      }
      continue;
    }
    const size_t at = out.size();
    encode_chunk(chunk, out);
    cache.emplace(chunk, std::make_pair(at, out.size() - at));
  }
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& tokens) const {
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || static_cast<uint32_t>(tokens[i]) >= vocab_size())
      ATTN_FAIL(kInput, "BPE: token {} = {} outside the vocabulary [0, {})", i, tokens[i],
                vocab_size());
    out += pieces_[tokens[i]];
  }
  return out;
}

void BpeTokenizer::save(const std::string& path) const {
  nlohmann::json merges = nlohmann::json::array();
  for (const BpeMerge& m : merges_) merges.push_back({m[0], m[1]});
  const nlohmann::json j = {{"format", "attnlab-bpe"},
                            {"version", 1},
                            {"chunking", "attnlab-v1"},
                            {"vocab_size", vocab_size()},
                            {"merges", merges}};
  write_file_atomic(path, j.dump() + "\n");
}

BpeTokenizer BpeTokenizer::load(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    ATTN_FAIL(kInput, "{}: not valid JSON: {}", path, e.what());
  }
  if (!j.is_object() || j.value("format", "") != "attnlab-bpe" || j.value("version", 0) != 1)
    ATTN_FAIL(kInput, "{}: not an attnlab BPE file (format attnlab-bpe, version 1)", path);
  if (!j.contains("merges") || !j["merges"].is_array())
    ATTN_FAIL(kInput, "{}: no \"merges\" array", path);
  std::vector<BpeMerge> merges;
  for (size_t i = 0; i < j["merges"].size(); ++i) {
    const auto& m = j["merges"][i];
    if (!m.is_array() || m.size() != 2 || !m[0].is_number_integer() || !m[1].is_number_integer())
      ATTN_FAIL(kInput, "{}: merges[{}] is not a pair of integers", path, i);
    merges.push_back({m[0].get<int32_t>(), m[1].get<int32_t>()});
  }
  if (!j.contains("vocab_size") || !j["vocab_size"].is_number_integer() ||
      j["vocab_size"].get<int64_t>() != 256 + static_cast<int64_t>(merges.size()))
    ATTN_FAIL(kInput, "{}: vocab_size must be 256 + {} merges", path, merges.size());
  try {
    return BpeTokenizer(std::move(merges));
  } catch (const Error& e) {
    ATTN_FAIL(kInput, "{}: {}", path, e.message());
  }
}

}  // namespace attn
