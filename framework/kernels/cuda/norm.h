// CUDA LayerNorm and RMSNorm over the last axis (f32, device pointers), mirroring
// framework/kernels/cpu/norm.h: y = (x - mu) * rstd * w (+ b), rstd = 1/sqrt(var + eps).
#pragma once

#include <cstdint>

#include "framework/kernels/kinds.h"

namespace attn::cuda {

// x, y [rows, cols]; w, b [cols] (b may be null); saves mean [rows] (LayerNorm only, else null)
// and rstd [rows] for the backward. With a residual [rows, cols], normalises sum = x + residual
// and writes the sum too (the fused residual add of a pre-norm block); the backward then takes
// the sum as its x.
void norm_forward(NormKind kind, float* y, float* mean, float* rstd, const float* x, const float* w,
                  const float* b, int64_t rows, int64_t cols, float eps,
                  const float* residual = nullptr, float* sum = nullptr);

// dx += rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * w (no mean(g) for RMSNorm);
// dw += sum_rows dy * xhat; db += sum_rows dy. Any of dx, dw, db may be null (not needed).
// dw/db are summed deterministically: partial sums over fixed 64-row chunks, then the chunks in
// order (device scratch of 2 * ceil(rows / 64) * cols floats, stream-ordered allocation).
void norm_backward(NormKind kind, float* dx, float* dw, float* db, const float* dy, const float* x,
                   const float* w, const float* mean, const float* rstd, int64_t rows,
                   int64_t cols);

}  // namespace attn::cuda
