#include "framework/kernels/cpu/reduce.h"

#include <vector>

#include "framework/core/threads.h"

namespace attn::cpu {

namespace {
// A long single reduction is split into fixed blocks of this many elements; block partials are
// combined in order. The block size, not the thread count, fixes the summation order.
constexpr int64_t kBlock = 4096;
constexpr int64_t kColumnBlock = 256;

// The simd lanes fix a summation order at compile time; the thread count never changes it.
template <typename T>
T serial_sum(const T* x, int64_t n) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t r = 0; r < n; ++r) acc += x[r];
  return acc;
}
}  // namespace

template <typename T>
void sum_axis(T* out, const T* x, int64_t outer, int64_t n, int64_t inner, T alpha,
              bool accumulate) {
  auto put = [&](T* dst, T v) { *dst = accumulate ? *dst + alpha * v : alpha * v; };
  if (inner == 1 && outer == 1 && n > kBlock) {
    int64_t blocks = (n + kBlock - 1) / kBlock;
    std::vector<T> partial(blocks);
    parallel_chunks(blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        partial[b] = serial_sum(x + b * kBlock, std::min(kBlock, n - b * kBlock));
    });
    put(out, serial_sum(partial.data(), blocks));
    return;
  }
  if (inner == 1) {  // one contiguous row per output
    parallel_chunks(outer, rows_per_chunk(n), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) put(out + o, serial_sum(x + o * n, n));
    });
    return;
  }
  // Column sums: each task owns a block of columns of one outer slice and walks all rows, so the
  // inner loop is contiguous and each output is summed in row order.
  int64_t col_blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  parallel_chunks(outer * col_blocks, 1, [&](int64_t t0, int64_t t1) {
    std::vector<T> acc(kColumnBlock);
    for (int64_t t = t0; t < t1; ++t) {
      int64_t o = t / col_blocks, c0 = (t % col_blocks) * kColumnBlock;
      int64_t width = std::min(kColumnBlock, inner - c0);
      std::fill(acc.begin(), acc.begin() + width, T(0));
      const T* base = x + o * n * inner + c0;
      for (int64_t r = 0; r < n; ++r) {
#pragma omp simd
        for (int64_t c = 0; c < width; ++c) acc[c] += base[r * inner + c];
      }
      for (int64_t c = 0; c < width; ++c) put(out + o * inner + c0 + c, acc[c]);
    }
  });
}

template <typename T>
void broadcast_axis_accumulate(T* dx, const T* dout, int64_t outer, int64_t n, int64_t inner,
                               T alpha) {
  parallel_chunks(outer * n, rows_per_chunk(inner), [&](int64_t r0, int64_t r1) {
    // Walk the chunk one outer slice at a time so no division happens per element.
    for (int64_t r = r0; r < r1;) {
      const int64_t o = r / n, end = std::min(r1, (o + 1) * n);
      const T* src = dout + o * inner;
      if (inner == 1) {
        const T v = alpha * src[0];
#pragma omp simd
        for (int64_t i = r; i < end; ++i) dx[i] += v;
      } else {
        for (int64_t i = r; i < end; ++i) {
          T* dst = dx + i * inner;
#pragma omp simd
          for (int64_t c = 0; c < inner; ++c) dst[c] += alpha * src[c];
        }
      }
      r = end;
    }
  });
}

#define ATTN_INSTANTIATE(T)                                                    \
  template void sum_axis<T>(T*, const T*, int64_t, int64_t, int64_t, T, bool); \
  template void broadcast_axis_accumulate<T>(T*, const T*, int64_t, int64_t, int64_t, T);
ATTN_INSTANTIATE(float)
ATTN_INSTANTIATE(double)
#undef ATTN_INSTANTIATE

}  // namespace attn::cpu
