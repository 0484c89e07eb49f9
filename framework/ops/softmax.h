// Differentiable softmax and log-softmax along the last axis.
// Rows are max-subtracted, so large logits neither overflow nor lose precision.
#pragma once

#include "framework/core/tensor.h"

namespace attn {

Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);

}  // namespace attn
