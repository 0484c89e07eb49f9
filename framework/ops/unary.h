// Differentiable pointwise functions: GELU (exact erf or tanh approximation), SiLU, sigmoid,
// tanh, exp and log.
#pragma once

#include "framework/core/tensor.h"

namespace attn {

enum class GeluApprox { kErf, kTanh };

Tensor gelu(const Tensor& x, GeluApprox approx = GeluApprox::kErf);
Tensor silu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);

}  // namespace attn
