// Byte-level BPE: ids 0..255 are bytes, merge i makes id 256 + i from an adjacent pair. Text is
// first cut into chunks (a word with its leading space, digits, punctuation, whitespace) and
// merges never cross chunks; training counts pairs incrementally over distinct chunks.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "recipes/data/tokenizer.h"

namespace attn {

using BpeMerge = std::array<int32_t, 2>;  // (left id, right id) -> 256 + index

// The chunks of `text` (concatenated they give back `text`), see docs/data-format.md.
std::vector<std::string_view> bpe_chunks(std::string_view text);

// Learns vocab_size - 256 merges from the texts: each step merges the most frequent adjacent
// pair (ties: the smallest (left, right)). Throws attn::Error(kInput) if the texts run out of
// pairs first. `progress` (may be null) is called every 256 merges with the merge count.
using BpeProgress = std::function<void(size_t merges, int64_t pair_count)>;
std::vector<BpeMerge> train_bpe(const std::vector<std::string_view>& texts, uint32_t vocab_size,
                                const BpeProgress& progress = {});

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(std::vector<BpeMerge> merges);  // attn::Error(kInput) if malformed

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& tokens) const override;
  uint32_t vocab_size() const override { return 256 + static_cast<uint32_t>(merges_.size()); }
  std::string name() const override { return "bpe"; }
  const std::vector<BpeMerge>& merges() const { return merges_; }
  const std::string& token_bytes(int32_t id) const { return pieces_[id]; }

  // bpe.json: {"format": "attnlab-bpe", "version": 1, "vocab_size": N, "merges": [[l, r], ...]}.
  void save(const std::string& path) const;  // atomic
  static BpeTokenizer load(const std::string& path);

 private:
  void encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const;

  std::vector<BpeMerge> merges_;
  std::vector<std::string> pieces_;                // [vocab] bytes of every id
  std::unordered_map<uint64_t, int32_t> rank_of_;  // pair key -> merge index
};

}  // namespace attn
