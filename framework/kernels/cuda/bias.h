// CUDA per-column bias and per-row scale kernels (f32), mirroring bias_add / scale_rows in
// framework/kernels/cpu/elementwise.h. The bias gradient is cuda::sum_axis (reduce.h).
#pragma once

#include <cstdint>

namespace attn::cuda {

// out[r, c] = x[r, c] + bias[c]; x is [rows, cols].
void bias_add(float* out, const float* x, const float* bias, int64_t rows, int64_t cols);

// out[r, c] = x[r, c] * s[r]; x is [rows, cols].
void scale_rows(float* out, const float* x, const float* s, int64_t rows, int64_t cols);

// dx[r, c] += dy[r, c] * s[r]; ds[r] += sum_c dy[r, c] x[r, c] (one block per row, fixed
// tree: deterministic). Either target may be null.
void scale_rows_backward(float* dx, float* ds, const float* dy, const float* x, const float* s,
                         int64_t rows, int64_t cols);

}  // namespace attn::cuda
