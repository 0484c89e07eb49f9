// LayerNorm and RMSNorm over the last axis as one kernel family: RMSNorm is LayerNorm without
// the mean subtraction and the bias. y = (x - mu) * rstd * w (+ b), rstd = 1/sqrt(var + eps).
#pragma once

#include <cstdint>

#include "framework/kernels/kinds.h"

namespace attn::cpu {

// x, y [rows, cols]; w, b [cols] (b may be null); saves mean [rows] (LayerNorm only, else null)
// and rstd [rows] for the backward. With a residual [rows, cols], normalises sum = x + residual
// and writes the sum too (the fused residual add of a pre-norm block); the backward then takes
// the sum as its x.
template <typename T>
void norm_forward(NormKind kind, T* y, T* mean, T* rstd, const T* x, const T* w, const T* b,
                  int64_t rows, int64_t cols, T eps, const T* residual = nullptr, T* sum = nullptr);

// dx += rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * w (no mean(g) for RMSNorm);
// dw += sum_rows dy * xhat; db += sum_rows dy. Any of dx, dw, db may be null (not needed).
template <typename T>
void norm_backward(NormKind kind, T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                   const T* mean, const T* rstd, int64_t rows, int64_t cols);

}  // namespace attn::cpu
