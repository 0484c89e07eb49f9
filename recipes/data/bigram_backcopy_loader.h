// Batches of Bigram-Backcopy sequences (synthetic/bigram_backcopy.h), generated on demand: every
// row is one sequence, BOS first, seq_len inputs and their seq_len next-symbol targets. Training
// row g (counted over all ranks) is training sequence g, so the stream never repeats, resumes
// from a row count and splits over ranks like the token loader (rank r takes r, r + W, ...).
// Evaluation makes one pass over the validation sequences.
#pragma once

#include <cstdint>
#include <memory>

#include "recipes/data/batch_stream.h"
#include "recipes/data/synthetic/bigram_backcopy.h"

namespace attn {

class BigramBackcopyLoader final : public BatchStream {
 public:
  BigramBackcopyLoader(std::shared_ptr<const BigramBackcopy> task, int64_t seq_len, int64_t rows,
                       int rank, int world);
  // The first `sequences` validation sequences, once; the last batch is filled up with
  // all-padding rows so every rank gets `rows`.
  static BigramBackcopyLoader eval(std::shared_ptr<const BigramBackcopy> task, int64_t seq_len,
                                   int64_t rows, int rank, int world, int64_t sequences);

  Batch next() override;
  bool has_next() const override;
  LoaderState state() const override { return state_; }
  void restore(const LoaderState& state) override;

 private:
  std::shared_ptr<const BigramBackcopy> task_;
  int64_t seq_len_ = 0, rows_ = 0;
  int rank_ = 0, world_ = 1;
  BbSplit split_ = BbSplit::kTrain;
  int64_t eval_sequences_ = 0;  // kVal: how many
  LoaderState state_;           // cursor: global rows consumed
};

}  // namespace attn
