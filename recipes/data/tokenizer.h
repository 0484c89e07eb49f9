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

// The symbols of a synthetic token task (Bigram-Backcopy): id i is the printable character
// '!' + i, so at most 94 symbols; encode refuses any other character.
class SymbolTokenizer final : public Tokenizer {
 public:
  static constexpr int kMaxSymbols = 94;
  explicit SymbolTokenizer(int symbols);
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& tokens) const override;
  uint32_t vocab_size() const override { return static_cast<uint32_t>(symbols_); }
  std::string name() const override { return "symbols"; }

 private:
  int symbols_;
};

// `inner` plus one BOS symbol (data.bos): id inner.vocab_size(), decoded to nothing (so it
// counts no bytes in bits per byte) and never produced by encode.
class BosTokenizer final : public Tokenizer {
 public:
  explicit BosTokenizer(std::unique_ptr<Tokenizer> inner);
  std::vector<int32_t> encode(std::string_view text) const override { return inner_->encode(text); }
  std::string decode(const std::vector<int32_t>& tokens) const override;
  uint32_t vocab_size() const override { return bos_ + 1; }
  std::string name() const override { return inner_->name() + "+bos"; }
  int32_t bos() const { return static_cast<int32_t>(bos_); }

 private:
  std::unique_ptr<Tokenizer> inner_;
  uint32_t bos_;
};

// The BOS id of a tokenizer made by BosTokenizer, or -1.
int32_t bos_of(const Tokenizer& tokenizer);

enum class TokenizerKind { kBytes, kBpe };

// The tokenizer a prepared data directory was tokenized with: bytes, or <data_dir>/bpe.json.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& data_dir, TokenizerKind kind);

// <data_dir>/<split>.bin (bytes) or <data_dir>/<split>.bpe.bin (BPE); split is "train" or "val".
std::string shard_path(const std::string& data_dir, TokenizerKind kind, const std::string& split);

}  // namespace attn
