#include "framework/kernels/cpu/cross_entropy.h"

#include <cmath>
#include <limits>

#include "framework/core/threads.h"
#include "framework/kernels/cpu/fast_math.h"

namespace attn::cpu {

template <typename T, typename I>
void cross_entropy_forward(T* row_loss, T* lse, const T* logits, const I* targets, const T* weights,
                           int64_t n, int64_t v, I ignore_index) {
  parallel_chunks(n, rows_per_chunk(v), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* x = logits + r * v;
      T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
      for (int64_t c = 0; c < v; ++c) m = std::max(m, x[c]);
      // simd reductions: a fixed lane order per row, so still independent of the thread count.
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t c = 0; c < v; ++c) sum += fast_exp(x[c] - m);
      lse[r] = m + std::log(sum);
      I t = targets[r];
      row_loss[r] = t == ignore_index ? T(0) : (weights ? weights[r] : T(1)) * (lse[r] - x[t]);
    }
  });
}

template <typename T, typename I>
void cross_entropy_backward(T* dlogits, const T* logits, const T* lse, const I* targets,
                            const T* weights, int64_t n, int64_t v, I ignore_index, T scale) {
  parallel_chunks(n, rows_per_chunk(v), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      I t = targets[r];
      if (t == ignore_index) continue;
      T s = scale * (weights ? weights[r] : T(1));
      const T* x = logits + r * v;
      T* dx = dlogits + r * v;
      const T l = lse[r];
#pragma omp simd
      for (int64_t c = 0; c < v; ++c) dx[c] += s * fast_exp(x[c] - l);
      dx[t] -= s;
    }
  });
}

#define ATTN_INSTANTIATE(T, I)                                                                    \
  template void cross_entropy_forward<T, I>(T*, T*, const T*, const I*, const T*, int64_t,        \
                                            int64_t, I);                                          \
  template void cross_entropy_backward<T, I>(T*, const T*, const T*, const I*, const T*, int64_t, \
                                             int64_t, I, T);
ATTN_INSTANTIATE(float, int32_t)
ATTN_INSTANTIATE(float, int64_t)
ATTN_INSTANTIATE(double, int32_t)
ATTN_INSTANTIATE(double, int64_t)
#undef ATTN_INSTANTIATE

}  // namespace attn::cpu
