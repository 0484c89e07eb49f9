// SFT examples as batches: one example per row of seq_len tokens (the rest padding, a piece of
// its own). By default (SftRows) targets only where the next token is a response token (the
// response-only loss), and the example's runs as the batch's segment mask (context bidirectional
// inside its run, responses causal, padding isolated); or plain causal rows, or targets on every
// token. Each epoch shuffles the examples by Philox (seed, epoch); rank r of W takes global rows
// r, r + W, ... State and restore as TokenLoader's: the epoch and the next global row, so a
// resumed run continues with the same rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/attention/attention_mask.h"
#include "recipes/data/batch_stream.h"
#include "recipes/data/sft_example.h"
#include "recipes/data/tokenizer.h"

namespace attn {

struct TokenizedExample {
  std::vector<int32_t> tokens;
  std::vector<SegmentKind> kinds;  // per token: kContext or kResponse
};

// Runs are tokenized one by one (no token straddles a run boundary). An example longer than
// seq_len tokens, or without a response token, is an error (kInput) naming the example
// ("path:line", or "<source> example <i>" for examples not read from a file).
std::vector<TokenizedExample> tokenize_examples(const std::vector<SftExample>& examples,
                                                const Tokenizer& tokenizer, int64_t seq_len,
                                                const std::string& source);

// How example rows are trained (data.examples).
struct SftRows {
  bool segment_mask = true;   // false: causal over the whole example
  bool response_only = true;  // false: the next-token loss on every token
};

class SftLoader final : public BatchStream {
 public:
  SftLoader(std::vector<TokenizedExample> examples, int64_t seq_len, int64_t rows, uint64_t seed,
            int rank, int world, SftRows how = {});

  // Evaluation: the examples in order, one pass; the final batch is filled up with all-padding
  // rows (no targets) so every rank gets `rows`.
  static SftLoader eval(std::vector<TokenizedExample> examples, int64_t seq_len, int64_t rows,
                        int rank, int world, SftRows how = {});

  Batch next() override;
  bool has_next() const override { return shuffle_ || state_.epoch == 0; }
  LoaderState state() const override { return state_; }
  void restore(const LoaderState& state) override;
  uint64_t rows_per_epoch() const { return examples_.size(); }

 private:
  const std::vector<uint32_t>& order(uint64_t epoch);
  void fill_row(const TokenizedExample* e, std::vector<int32_t>& tokens,
                std::vector<int32_t>& targets, std::vector<int32_t>& positions,
                std::vector<int32_t>& cu, std::vector<int32_t>& roles,
                std::vector<int32_t>& segment_ids, std::vector<int32_t>& segment_kinds,
                int64_t& target_tokens) const;

  std::vector<TokenizedExample> examples_;
  int64_t seq_len_, rows_;
  uint64_t seed_;
  int rank_, world_;
  SftRows how_;
  bool shuffle_ = true;
  LoaderState state_;
  uint64_t order_epoch_ = ~0ull;
  std::vector<uint32_t> order_;
};

}  // namespace attn
