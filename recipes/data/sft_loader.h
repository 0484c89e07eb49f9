// SFT examples as training batches: one example per row of seq_len tokens (the rest padding, a
// piece of its own), targets only where the next token is a response token (the response-only
// loss), and the example's runs as the batch's segment mask (context bidirectional inside its
// run, responses causal, padding isolated). Each epoch shuffles the examples by Philox (seed,
// epoch); rank r of W takes global rows r, r + W, ... State and restore as TokenLoader's: the
// epoch and the next global row, so a resumed run continues with the same rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/attention/attention_mask.h"
#include "recipes/data/loader.h"
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

class SftLoader {
 public:
  SftLoader(std::vector<TokenizedExample> examples, int64_t seq_len, int64_t rows, uint64_t seed,
            int rank, int world);

  Batch next();
  LoaderState state() const { return state_; }
  void restore(const LoaderState& state);  // attn::Error(kInput) if the cursor is out of range
  uint64_t rows_per_epoch() const { return examples_.size(); }

 private:
  const std::vector<uint32_t>& order(uint64_t epoch);

  std::vector<TokenizedExample> examples_;
  int64_t seq_len_, rows_;
  uint64_t seed_;
  int rank_, world_;
  LoaderState state_;
  uint64_t order_epoch_ = ~0ull;
  std::vector<uint32_t> order_;
};

}  // namespace attn
