// Differentiable LayerNorm and RMSNorm over the last axis, with a learned gain (and bias for
// LayerNorm; pass an undefined tensor for none). Mean and rstd are saved for backward.
#pragma once

#include "framework/core/tensor.h"

namespace attn {

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);

}  // namespace attn
