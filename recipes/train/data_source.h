// Where a recipe's tokens come from: shard paths for training and validation, the tokenizer, and
// the checks that tie them to the model (vocabulary sizes), with errors that say how to fix them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "framework/config/recipe_loader.h"
#include "recipes/data/tokenizer.h"

namespace attn {

struct DataSource {
  std::vector<std::string> train;  // token shard paths
  std::vector<std::string> val;
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<double> token_bytes;  // bytes each token id decodes to (bits per byte)
};

// Resolves data.corpus (BROWN: <dir>/{train,val}.bin or .bpe.bin; SHARDS: the listed paths),
// checks every shard header and that tokenizer, shards and model.vocab_size agree.
DataSource open_data_source(const config::Recipe& recipe);

// Only the tokenizer (sampling needs no shards).
std::unique_ptr<Tokenizer> open_tokenizer(const config::Recipe& recipe);

}  // namespace attn
