// CUDA pointwise activations (f32), forward and backward, mirroring framework/kernels/cpu/unary.h
// (same UnaryOp, same argument order). Pointers are device pointers.
#pragma once

#include <cstdint>

#include "framework/kernels/kinds.h"

namespace attn::cuda {

// y = f(x)
void unary_forward(UnaryOp op, float* y, const float* x, int64_t n);
// dx += dy * f'(x); y = f(x) is passed for the ops whose derivative is a function of y.
void unary_backward(UnaryOp op, float* dx, const float* dy, const float* x, const float* y,
                    int64_t n);

}  // namespace attn::cuda
