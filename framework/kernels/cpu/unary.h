// Pointwise activations and transcendental functions, forward and backward in one kernel
// family parameterised by UnaryOp (the loop is instantiated per op so it vectorises).
#pragma once

#include <cstdint>

#include "framework/kernels/kinds.h"

namespace attn::cpu {

// y = f(x)
template <typename T>
void unary_forward(UnaryOp op, T* y, const T* x, int64_t n);

// dx += dy * f'(x); y = f(x) is passed so ops whose derivative is a function of y reuse it.
template <typename T>
void unary_backward(UnaryOp op, T* dx, const T* dy, const T* x, const T* y, int64_t n);

}  // namespace attn::cpu
