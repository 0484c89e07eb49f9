// Differentiable LayerNorm and RMSNorm over the last axis, with a learned gain (and bias for
// LayerNorm; pass an undefined tensor for none). Mean and rstd are saved for backward.
#pragma once

#include "framework/core/tensor.h"

namespace attn {

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);

// The residual add of a pre-norm block fused into the next norm: sum = x + residual and
// normed = norm(sum) in one pass over the rows (sum is the residual stream going on, normed the
// next sublayer's input). Same results as add() followed by the norm.
struct AddNormResult {
  Tensor sum, normed;
};
AddNormResult add_layer_norm(const Tensor& x, const Tensor& residual, const Tensor& weight,
                             const Tensor& bias, double eps = 1e-5);
AddNormResult add_rms_norm(const Tensor& x, const Tensor& residual, const Tensor& weight,
                           double eps = 1e-6);

}  // namespace attn
