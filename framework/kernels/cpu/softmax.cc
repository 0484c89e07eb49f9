#include "framework/kernels/cpu/softmax.h"

#include <cmath>
#include <limits>

#include "framework/core/threads.h"

namespace attn::cpu {

template <typename T>
void softmax_forward(T* y, const T* x, int64_t rows, int64_t cols, bool log) {
  parallel_chunks(rows, rows_per_chunk(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
      for (int64_t c = 0; c < cols; ++c) m = std::max(m, xr[c]);
      T sum = 0;
      for (int64_t c = 0; c < cols; ++c) {
        yr[c] = std::exp(xr[c] - m);
        sum += yr[c];
      }
      if (log) {
        T lse = m + std::log(sum);
        for (int64_t c = 0; c < cols; ++c) yr[c] = xr[c] - lse;
      } else {
        T inv = T(1) / sum;
        for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
      }
    }
  });
}

template <typename T>
void softmax_backward(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log) {
  parallel_chunks(rows, rows_per_chunk(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* dyr = dy + r * cols;
      const T* yr = y + r * cols;
      T* dxr = dx + r * cols;
      T s = 0;
      if (log) {
#pragma omp simd reduction(+ : s)
        for (int64_t c = 0; c < cols; ++c) s += dyr[c];
        for (int64_t c = 0; c < cols; ++c) dxr[c] += dyr[c] - std::exp(yr[c]) * s;
      } else {
#pragma omp simd reduction(+ : s)
        for (int64_t c = 0; c < cols; ++c) s += dyr[c] * yr[c];
        for (int64_t c = 0; c < cols; ++c) dxr[c] += yr[c] * (dyr[c] - s);
      }
    }
  });
}

template void softmax_forward<float>(float*, const float*, int64_t, int64_t, bool);
template void softmax_forward<double>(double*, const double*, int64_t, int64_t, bool);
template void softmax_backward<float>(float*, const float*, const float*, int64_t, int64_t, bool);
template void softmax_backward<double>(double*, const double*, const double*, int64_t, int64_t,
                                       bool);

}  // namespace attn::cpu
