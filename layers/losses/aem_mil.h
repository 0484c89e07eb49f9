// AEM in its own setting, multiple-instance learning (SPEC-attention section 7): the negative
// entropy of a bag's attention-pooling distribution, sum_n p_n log p_n with p = softmax(a),
// summed over the instances (the paper's form; the trainer weights it by lambda, 0.1 published).
// From the logits a, so log p = a - lse never takes the log of an underflowed p.
#pragma once

#include "framework/core/tensor.h"

namespace attn {

// scores [1, N] (or [N]): a bag's attention logits. Returns a [] tensor in [-log N, 0].
Tensor pooling_negative_entropy(const Tensor& scores);

}  // namespace attn
