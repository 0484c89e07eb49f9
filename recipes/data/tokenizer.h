// Tokenizers map text (any bytes, not necessarily UTF-8) to token ids and back: the byte
// tokenizer (ids = byte values) and the byte-level BPE of bpe.h, chosen by TokenizerKind.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace attn {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // decode(encode(s)) == s for every byte string s.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // attn::Error(kInput) for ids outside [0, vocab_size()).
  virtual std::string decode(const std::vector<int32_t>& tokens) const = 0;
  virtual uint32_t vocab_size() const = 0;
  virtual std::string name() const = 0;  // "bytes", "bpe"
};

class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& tokens) const override;
  uint32_t vocab_size() const override { return 256; }
  std::string name() const override { return "bytes"; }
};

enum class TokenizerKind { kBytes, kBpe };

// The tokenizer a prepared data directory was tokenized with: bytes, or <data_dir>/bpe.json.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& data_dir, TokenizerKind kind);

// <data_dir>/<split>.bin (bytes) or <data_dir>/<split>.bpe.bin (BPE); split is "train" or "val".
std::string shard_path(const std::string& data_dir, TokenizerKind kind, const std::string& split);

}  // namespace attn
