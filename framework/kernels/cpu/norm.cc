#include "framework/kernels/cpu/norm.h"

#include <cmath>
#include <vector>

#include "framework/core/threads.h"

namespace attn::cpu {

template <typename T>
void norm_forward(NormKind kind, T* y, T* mean, T* rstd, const T* x, const T* w, const T* b,
                  int64_t rows, int64_t cols, T eps, const T* residual, T* sum) {
  const bool center = kind == NormKind::kLayerNorm;
  parallel_chunks(rows, rows_per_chunk(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      if (residual) {  // normalise the sum, written once and read back while the row is cached
        T* sr = sum + r * cols;
        const T* rr = residual + r * cols;
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) sr[c] = xr[c] + rr[c];
        xr = sr;
      }
      T mu = 0;
      // simd reductions use a fixed lane order (set at compile time, not by the thread count).
      if (center) {
#pragma omp simd reduction(+ : mu)
        for (int64_t c = 0; c < cols; ++c) mu += xr[c];
        mu /= T(cols);
      }
      T var = 0;
#pragma omp simd reduction(+ : var)
      for (int64_t c = 0; c < cols; ++c) var += (xr[c] - mu) * (xr[c] - mu);
      T rs = T(1) / std::sqrt(var / T(cols) + eps);
      if (b) {
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - mu) * rs * w[c] + b[c];
      } else {
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - mu) * rs * w[c];
      }
      if (mean) mean[r] = mu;
      rstd[r] = rs;
    }
  });
}

template <typename T>
void norm_backward(NormKind kind, T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                   const T* mean, const T* rstd, int64_t rows, int64_t cols) {
  const bool center = kind == NormKind::kLayerNorm;
  const bool params = dw || db;
  // One pass over the rows computes dx and per-chunk partial sums of dw/db; the partials of the
  // fixed row chunks are then added in chunk order, so the result ignores the thread count.
  constexpr int64_t kRowsPerPartial = 32;
  const int64_t chunks = (rows + kRowsPerPartial - 1) / kRowsPerPartial;
  std::vector<T> partial_w(params ? chunks * cols : 0), partial_b(params ? chunks * cols : 0);
  parallel_chunks(chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      T* pw = params ? partial_w.data() + k * cols : nullptr;
      T* pb = params ? partial_b.data() + k * cols : nullptr;
      for (int64_t r = k * kRowsPerPartial; r < std::min(rows, (k + 1) * kRowsPerPartial); ++r) {
        const T* xr = x + r * cols;
        const T* dyr = dy + r * cols;
        const T mu = center ? mean[r] : T(0), rs = rstd[r];
        if (params) {
#pragma omp simd
          for (int64_t c = 0; c < cols; ++c) {
            pw[c] += dyr[c] * (xr[c] - mu) * rs;
            pb[c] += dyr[c];
          }
        }
        if (!dx) continue;
        T g_mean = 0, gx_mean = 0;
#pragma omp simd reduction(+ : g_mean, gx_mean)
        for (int64_t c = 0; c < cols; ++c) {
          T g = dyr[c] * w[c];
          g_mean += g;
          gx_mean += g * (xr[c] - mu) * rs;
        }
        g_mean = center ? g_mean / T(cols) : T(0);
        gx_mean /= T(cols);
        T* dxr = dx + r * cols;
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c)
          dxr[c] += rs * (dyr[c] * w[c] - g_mean - (xr[c] - mu) * rs * gx_mean);
      }
    }
  });
  if (!params) return;
  parallel_chunks(cols, 256, [&](int64_t c0, int64_t c1) {
    for (int64_t k = 0; k < chunks; ++k) {
      const T* pw = partial_w.data() + k * cols;
      const T* pb = partial_b.data() + k * cols;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        if (dw) dw[c] += pw[c];
        if (db) db[c] += pb[c];
      }
    }
  });
}

template void norm_forward<float>(NormKind, float*, float*, float*, const float*, const float*,
                                  const float*, int64_t, int64_t, float, const float*, float*);
template void norm_forward<double>(NormKind, double*, double*, double*, const double*,
                                   const double*, const double*, int64_t, int64_t, double,
                                   const double*, double*);
template void norm_backward<float>(NormKind, float*, float*, float*, const float*, const float*,
                                   const float*, const float*, const float*, int64_t, int64_t);
template void norm_backward<double>(NormKind, double*, double*, double*, const double*,
                                    const double*, const double*, const double*, const double*,
                                    int64_t, int64_t);

}  // namespace attn::cpu
