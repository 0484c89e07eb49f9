// Differentiable pointwise arithmetic: a + b, a - b, a * b (same shapes), alpha * x, the
// bias add x[..., c] + bias[c] and the row scaling x[..., c] * s[...]. The binary family also runs
// on CUDA (f32).
#pragma once

#include "framework/core/tensor.h"

namespace attn {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, double alpha);
// x [..., c] + bias [c]
Tensor add_bias(const Tensor& x, const Tensor& bias);
// x [..., c] * s [...]: one factor per row (per-head gates and weights, a scalar times a tensor).
Tensor scale_rows(const Tensor& x, const Tensor& s);

namespace detail {
// y += alpha * x (same shape, dtype and device): the accumulation step of many backwards.
void axpy_into(const Tensor& y, double alpha, const Tensor& x);
// The gradient of add_bias given dout = dL/d(x + bias): x.grad += dout (skipped for an undefined
// x), bias.grad += column sums (deterministic on both devices). Shared with the fused bias +
// activation (unary.h).
void add_bias_backward(const Tensor& x, const Tensor& bias, const Tensor& dout);
}  // namespace detail

}  // namespace attn
