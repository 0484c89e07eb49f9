// Validation: mean next-token loss over a fixed prefix of the validation split (same batches at
// every evaluation, so curves are comparable) and bits per byte of the text it covers; for
// example corpora also the exact-match accuracy and the response focus on the test split.
#pragma once

#include <cstdint>
#include <limits>

#include "layers/models/gpt.h"
#include "recipes/train/data_source.h"

namespace attn {

struct EvalResult {
  double loss = std::numeric_limits<double>::quiet_NaN();  // nats per target token
  double bpb = std::numeric_limits<double>::quiet_NaN();   // bits per byte of target text
  int64_t tokens = 0;
  int64_t batches = 0;
  double nats = 0, bytes = 0;  // sums behind loss and bpb (added over ranks by the trainer)
  // Generated data whose Bayes-optimal predictor is known (Bigram-Backcopy): its nats on the
  // same targets and its loss, so loss - optimal_loss is the model's excess on these sequences.
  // NaN for other data.
  double optimal_nats = 0;
  double optimal_loss = std::numeric_limits<double>::quiet_NaN();
};

// loss and bpb from the sums (after adding them over ranks).
void finish_eval(EvalResult& r);

// Up to `max_batches` batches of `rows` rows from the start of the validation split (fewer when
// the split is shorter). Runs without the tape. With `diagnostics`, the attention statistics of
// the first batch are recorded there. Rank r of `world` evaluates rows r, r + world, ... of
// each batch (rows must divide by world): the sums of all ranks together are those of one rank
// evaluating everything.
EvalResult evaluate(const Gpt& model, const DataSource& data, int64_t rows, int64_t max_batches,
                    AttentionDiagnostics* diagnostics = nullptr, int rank = 0, int world = 1);

// Exact match on the test split of an example corpus: an example counts when greedy decoding of
// as many tokens as its response has reproduces the response. Greedy decoding matches the answer
// exactly when the argmax at every response position, given the true prefix, is the true token,
// so one forward per batch decides it. `focus`, when set, sums the response focus of every batch
// (construct it focus_only). Rows split over ranks as in evaluate(); add correct and examples
// over ranks.
struct ExactMatch {
  int64_t correct = 0, examples = 0;
  double accuracy() const {
    return examples > 0 ? static_cast<double>(correct) / static_cast<double>(examples)
                        : std::numeric_limits<double>::quiet_NaN();
  }
};
ExactMatch exact_match(const Gpt& model, const DataSource& data, int64_t rows,
                       AttentionDiagnostics* focus = nullptr, int rank = 0, int world = 1);

}  // namespace attn
