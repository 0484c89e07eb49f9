// Pointwise activations and transcendental functions, forward and backward in one kernel
// family parameterised by UnaryOp (the loop is instantiated per op so it vectorises).
#pragma once

#include <cstdint>

#include "framework/kernels/kinds.h"

namespace attn::cpu {

// y = f(x + bias). bias [cols] is broadcast over the rows of x [n / cols, cols] (the fused
// bias + activation after a linear layer), or null for y = f(x) (cols unused).
template <typename T>
void unary_forward(UnaryOp op, T* y, const T* x, int64_t n, const T* bias = nullptr,
                   int64_t cols = 0);

// dx += dy * f'(x + bias); y = f(x + bias) is passed so ops whose derivative is a function of y
// reuse it.
template <typename T>
void unary_backward(UnaryOp op, T* dx, const T* dy, const T* x, const T* y, int64_t n,
                    const T* bias = nullptr, int64_t cols = 0);

}  // namespace attn::cpu
