#include "framework/kernels/cpu/norm.h"

#include <cmath>
#include <vector>

#include "framework/core/threads.h"

namespace attn::cpu {

template <typename T>
void norm_forward(NormKind kind, T* y, T* mean, T* rstd, const T* x, const T* w, const T* b,
                  int64_t rows, int64_t cols, T eps) {
  const bool center = kind == NormKind::kLayerNorm;
  parallel_chunks(rows, rows_per_chunk(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      T mu = 0;
      if (center) {
        for (int64_t c = 0; c < cols; ++c) mu += xr[c];
        mu /= T(cols);
      }
      T var = 0;
      for (int64_t c = 0; c < cols; ++c) var += (xr[c] - mu) * (xr[c] - mu);
      T rs = T(1) / std::sqrt(var / T(cols) + eps);
      for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - mu) * rs * w[c] + (b ? b[c] : T(0));
      if (mean) mean[r] = mu;
      rstd[r] = rs;
    }
  });
}

template <typename T>
void norm_backward(NormKind kind, T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                   const T* mean, const T* rstd, int64_t rows, int64_t cols) {
  const bool center = kind == NormKind::kLayerNorm;
  auto mu_of = [&](int64_t r) { return center ? mean[r] : T(0); };
  if (dx) {
    parallel_chunks(rows, rows_per_chunk(cols), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = x + r * cols;
        const T* dyr = dy + r * cols;
        T mu = mu_of(r), rs = rstd[r];
        T g_mean = 0, gx_mean = 0;
        for (int64_t c = 0; c < cols; ++c) {
          T g = dyr[c] * w[c];
          g_mean += g;
          gx_mean += g * (xr[c] - mu) * rs;
        }
        g_mean = center ? g_mean / T(cols) : T(0);
        gx_mean /= T(cols);
        T* dxr = dx + r * cols;
        for (int64_t c = 0; c < cols; ++c)
          dxr[c] += rs * (dyr[c] * w[c] - g_mean - (xr[c] - mu) * rs * gx_mean);
      }
    });
  }
  if (!dw && !db) return;
  // Parameter gradients: each task owns a block of columns and walks every row in order.
  constexpr int64_t kCols = 64;
  parallel_chunks(cols, kCols, [&](int64_t c0, int64_t c1) {
    T acc_w[kCols] = {}, acc_b[kCols] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * cols;
      const T* dyr = dy + r * cols;
      T mu = mu_of(r), rs = rstd[r];
      for (int64_t c = c0; c < c1; ++c) {
        acc_w[c - c0] += dyr[c] * (xr[c] - mu) * rs;
        acc_b[c - c0] += dyr[c];
      }
    }
    for (int64_t c = c0; c < c1; ++c) {
      if (dw) dw[c] += acc_w[c - c0];
      if (db) db[c] += acc_b[c - c0];
    }
  });
}

template void norm_forward<float>(NormKind, float*, float*, float*, const float*, const float*,
                                  const float*, int64_t, int64_t, float);
template void norm_forward<double>(NormKind, double*, double*, double*, const double*,
                                   const double*, const double*, int64_t, int64_t, double);
template void norm_backward<float>(NormKind, float*, float*, float*, const float*, const float*,
                                   const float*, const float*, const float*, int64_t, int64_t);
template void norm_backward<double>(NormKind, double*, double*, double*, const double*,
                                    const double*, const double*, const double*, const double*,
                                    int64_t, int64_t);

}  // namespace attn::cpu
