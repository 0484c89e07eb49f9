// Pointwise binary kernels and the accumulation primitives every backward uses.
// All are embarrassingly parallel, so results never depend on the thread count.
#pragma once

#include <cstdint>

#include "framework/kernels/kinds.h"

namespace attn::cpu {

// out = a op b, all of n elements.
template <typename T>
void binary_forward(BinaryOp op, T* out, const T* a, const T* b, int64_t n);

// y += alpha * x
template <typename T>
void axpy(T* y, T alpha, const T* x, int64_t n);

// y += a * b (pointwise)
template <typename T>
void mul_accumulate(T* y, const T* a, const T* b, int64_t n);

// out = alpha * x
template <typename T>
void scale(T* out, const T* x, T alpha, int64_t n);

// out[r, c] = x[r, c] + bias[c]; x is [rows, cols].
template <typename T>
void bias_add(T* out, const T* x, const T* bias, int64_t rows, int64_t cols);

// out[r, c] = x[r, c] * s[r]; x is [rows, cols].
template <typename T>
void scale_rows(T* out, const T* x, const T* s, int64_t rows, int64_t cols);

// dx[r, c] += dy[r, c] * s[r]; ds[r] += sum_c dy[r, c] x[r, c]. Either target may be null.
template <typename T>
void scale_rows_backward(T* dx, T* ds, const T* dy, const T* x, const T* s, int64_t rows,
                         int64_t cols);

}  // namespace attn::cpu
