// Where a recipe's tokens come from: shard paths (token corpora) or tokenized SFT examples
// (example corpora: JSONL files, or generated synthetic tasks) for training, validation and
// test, the tokenizer, and the checks that tie them to the model (vocabulary sizes, example
// lengths), with errors that say how to fix them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "framework/config/recipe_loader.h"
#include "recipes/data/batch_stream.h"
#include "recipes/data/sft_loader.h"
#include "recipes/data/synthetic/bigram_backcopy.h"
#include "recipes/data/tokenizer.h"

namespace attn {

struct DataSource {
  std::vector<std::string> train;  // token corpora (BROWN, SHARDS): shard paths
  std::vector<std::string> val;
  // Example corpora (SFT, SYNTHETIC): every example fits model.seq_len tokens. test may be
  // empty (an SFT corpus without data.test).
  bool examples = false;
  std::vector<TokenizedExample> train_examples, val_examples, test_examples;
  SftRows rows;  // data.examples
  // Corpus BIGRAM_BACKCOPY: the task (rows are generated) and its validation sequences.
  std::shared_ptr<const BigramBackcopy> bigram_backcopy;
  int64_t val_sequences = 0;
  bool pack_documents = true;
  int32_t bos = -1;  // data.bos: the BOS id, else -1
  int64_t seq_len = 0;
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<double> token_bytes;  // bytes each token id decodes to (bits per byte)
};

// Resolves data.corpus (BROWN: <dir>/{train,val}.bin or .bpe.bin; SHARDS: the listed paths; SFT:
// the listed JSONL files; SYNTHETIC: data.synthetic's examples, generated now), checks every
// shard header and that tokenizer, shards and model.vocab_size agree.
DataSource open_data_source(const config::Recipe& recipe);

// The training stream of `rows` rows per batch for rank `rank` of `world`, seeded by train.seed.
// Moves the training examples out of `data` (the stream holds the only copy).
std::unique_ptr<BatchStream> open_train_stream(DataSource& data, int64_t rows, uint64_t seed,
                                               int rank, int world);

// One pass over the validation split (or the test split, for exact-match accuracy), in order.
enum class EvalSplit { kVal, kTest };
std::unique_ptr<BatchStream> open_eval_stream(const DataSource& data, EvalSplit split, int64_t rows,
                                              int rank, int world);

// Only the tokenizer (sampling needs no shards).
std::unique_ptr<Tokenizer> open_tokenizer(const config::Recipe& recipe);

}  // namespace attn
