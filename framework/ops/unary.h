// Differentiable pointwise functions: GELU (exact erf or tanh approximation, optionally with a
// fused bias add), SiLU, sigmoid, tanh, exp, log and ReLU.
#pragma once

#include "framework/core/tensor.h"

namespace attn {

enum class GeluApprox { kErf, kTanh };

Tensor gelu(const Tensor& x, GeluApprox approx = GeluApprox::kErf);
// gelu(x + bias) with bias [c] over x [..., c] in one pass, the sum never stored (the bias + GELU
// after an MLP's first projection, its widest activation); an undefined bias means gelu(x).
Tensor bias_gelu(const Tensor& x, const Tensor& bias, GeluApprox approx = GeluApprox::kErf);
Tensor silu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
// max(x, 0); the derivative at 0 is taken as 0 (PyTorch's convention).
Tensor relu(const Tensor& x);

}  // namespace attn
