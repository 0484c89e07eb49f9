// ByteTokenizer and the tokenizer factory for prepared data directories.
#include "recipes/data/tokenizer.h"

#include <filesystem>

#include "framework/core/error.h"
#include "recipes/data/bpe.h"

namespace attn {

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out(text.size());
  for (size_t i = 0; i < text.size(); ++i) out[i] = static_cast<unsigned char>(text[i]);
  return out;
}

std::string ByteTokenizer::decode(const std::vector<int32_t>& tokens) const {
  std::string out(tokens.size(), '\0');
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] > 255)
      ATTN_FAIL(kInput, "byte tokenizer: token {} = {} is not a byte", i, tokens[i]);
    out[i] = static_cast<char>(tokens[i]);
  }
  return out;
}

SymbolTokenizer::SymbolTokenizer(int symbols) : symbols_(symbols) {
  if (symbols < 1 || symbols > kMaxSymbols)
    ATTN_FAIL(kConfig, "symbol tokenizer: {} symbols, 1 .. {} can be printed", symbols,
              kMaxSymbols);
}

std::vector<int32_t> SymbolTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const int id = static_cast<unsigned char>(text[i]) - '!';
    if (id < 0 || id >= symbols_)
      ATTN_FAIL(kInput,
                "symbol tokenizer: character {} of the text ('{}') is not one of the {} "
                "symbols '!' .. '{}'",
                i, text.substr(i, 1), symbols_, static_cast<char>('!' + symbols_ - 1));
    out[i] = id;
  }
  return out;
}

std::string SymbolTokenizer::decode(const std::vector<int32_t>& tokens) const {
  std::string out(tokens.size(), '\0');
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= symbols_)
      ATTN_FAIL(kInput, "symbol tokenizer: token {} = {} is not one of {} symbols", i, tokens[i],
                symbols_);
    out[i] = static_cast<char>('!' + tokens[i]);
  }
  return out;
}

BosTokenizer::BosTokenizer(std::unique_ptr<Tokenizer> inner)
    : inner_(std::move(inner)), bos_(inner_->vocab_size()) {}

std::string BosTokenizer::decode(const std::vector<int32_t>& tokens) const {
  std::vector<int32_t> rest;
  rest.reserve(tokens.size());
  for (int32_t t : tokens)
    if (t != static_cast<int32_t>(bos_)) rest.push_back(t);
  return inner_->decode(rest);
}

int32_t bos_of(const Tokenizer& tokenizer) {
  const auto* b = dynamic_cast<const BosTokenizer*>(&tokenizer);
  return b ? b->bos() : -1;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& data_dir, TokenizerKind kind) {
  if (kind == TokenizerKind::kBytes) return std::make_unique<ByteTokenizer>();
  return std::make_unique<BpeTokenizer>(
      BpeTokenizer::load((std::filesystem::path(data_dir) / "bpe.json").string()));
}

std::string shard_path(const std::string& data_dir, TokenizerKind kind, const std::string& split) {
  const std::string file = split + (kind == TokenizerKind::kBpe ? ".bpe.bin" : ".bin");
  return (std::filesystem::path(data_dir) / file).string();
}

}  // namespace attn
