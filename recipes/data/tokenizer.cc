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
