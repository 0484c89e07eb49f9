// CUDA pointwise kernels (f32) for the binary family and the backward accumulation primitives,
// mirroring framework/kernels/cpu/elementwise.h. Pointers are device pointers.
#pragma once

#include <cstdint>

#include "framework/kernels/kinds.h"

namespace attn::cuda {

void binary_forward(BinaryOp op, float* out, const float* a, const float* b, int64_t n);
void axpy(float* y, float alpha, const float* x, int64_t n);               // y += alpha x
void mul_accumulate(float* y, const float* a, const float* b, int64_t n);  // y += a b
void scale(float* out, const float* x, float alpha, int64_t n);            // out = alpha x

}  // namespace attn::cuda
