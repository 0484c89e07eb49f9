// CUDA pointwise activations (f32), forward and backward, mirroring framework/kernels/cpu/unary.h
// (same UnaryOp, same argument order). Pointers are device pointers.
#pragma once

#include <cstdint>

#include "framework/kernels/kinds.h"

namespace attn::cuda {

// y = f(x + bias), bias [cols] broadcast over the rows of x [n / cols, cols], or null for
// y = f(x) (cols unused).
void unary_forward(UnaryOp op, float* y, const float* x, int64_t n, const float* bias = nullptr,
                   int64_t cols = 0);
// dx += dy * f'(x + bias); y = f(x + bias) is passed for the ops whose derivative is a function
// of y.
void unary_backward(UnaryOp op, float* dx, const float* dy, const float* x, const float* y,
                    int64_t n, const float* bias = nullptr, int64_t cols = 0);

}  // namespace attn::cuda
