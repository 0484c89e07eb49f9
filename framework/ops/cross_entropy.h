// Fused softmax cross-entropy with ignore-index and per-token weights: saves only the row
// log-sum-exp and rebuilds probabilities in backward from the logits (never two [n, v] copies).
#pragma once

#include "framework/core/tensor.h"

namespace attn {

struct CrossEntropyOptions {
  enum class Reduction { kMean, kSum };
  int64_t ignore_index = -100;  // rows with this target contribute nothing
  Tensor weights;               // optional [n] per-token weights (constants, no gradient)
  // kMean: sum_i w_i l_i / sum_i w_i over non-ignored rows (0 when that sum is 0); kSum: sum_i w_i
  // l_i.
  Reduction reduction = Reduction::kMean;
};

// logits [..., v]; targets i32/i64 [...] with the same leading shape -> loss of shape [].
Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     const CrossEntropyOptions& options = {});

}  // namespace attn
