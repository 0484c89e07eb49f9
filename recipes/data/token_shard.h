// Token shards: one binary file of token ids split into documents, each with a genre label.
// Layout (little-endian) is specified in docs/data-format.md; readers validate every field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attn {

inline constexpr uint16_t kNoLabel = 0xFFFF;

struct TokenShard {
  uint32_t vocab_size = 0;
  std::vector<int32_t> tokens;        // [count], every id in [0, vocab_size)
  std::vector<uint64_t> doc_offsets;  // [docs + 1], 0 .. count, non-decreasing
  std::vector<uint16_t> labels;       // [docs], genre id or kNoLabel

  size_t num_docs() const { return labels.size(); }
  size_t doc_length(size_t d) const { return doc_offsets[d + 1] - doc_offsets[d]; }
};

// Appends one document; keeps doc_offsets and labels consistent (starts them if empty).
void append_document(TokenShard& shard, const std::vector<int32_t>& tokens,
                     uint16_t label = kNoLabel);

// Throws attn::Error(kInput) naming `what` when the fields are inconsistent.
void validate_token_shard(const TokenShard& shard, const std::string& what);

// Atomic write (temp + fsync + rename). Tokens are stored as u16 when vocab_size <= 65536.
void write_token_shard(const std::string& path, const TokenShard& shard);
std::string encode_token_shard(const TokenShard& shard);

// Reads and validates the whole file; errors name the path and the byte offset.
TokenShard read_token_shard(const std::string& path);
// Same on bytes already in memory; `path` only names them in errors.
TokenShard decode_token_shard(const std::string& bytes, const std::string& path);

}  // namespace attn
