#include "framework/kernels/cpu/copy.h"

#include <cstring>

#include "framework/core/threads.h"

namespace attn::cpu {

template <typename T>
void copy_blocks(T* dst, int64_t dst_stride, const T* src, int64_t src_stride, int64_t outer,
                 int64_t len, bool accumulate) {
  parallel_chunks(outer, rows_per_chunk(len), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      T* d = dst + o * dst_stride;
      const T* s = src + o * src_stride;
      if (accumulate) {
        for (int64_t j = 0; j < len; ++j) d[j] += s[j];
      } else {
        std::memcpy(d, s, len * sizeof(T));
      }
    }
  });
}

template <typename T>
void transpose_last2(T* out, const T* x, int64_t batch, int64_t rows, int64_t cols,
                     bool accumulate) {
  constexpr int64_t kTile = 32;  // tiles keep both the reads and the writes cache-friendly
  int64_t row_tiles = (rows + kTile - 1) / kTile;
  parallel_chunks(batch * row_tiles, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      int64_t b = t / row_tiles, r0 = (t % row_tiles) * kTile, r1 = std::min(rows, r0 + kTile);
      const T* xb = x + b * rows * cols;
      T* ob = out + b * rows * cols;
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        int64_t c1 = std::min(cols, c0 + kTile);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) {
            if (accumulate)
              ob[c * rows + r] += xb[r * cols + c];
            else
              ob[c * rows + r] = xb[r * cols + c];
          }
      }
    }
  });
}

#define ATTN_INSTANTIATE(T)                                                             \
  template void copy_blocks<T>(T*, int64_t, const T*, int64_t, int64_t, int64_t, bool); \
  template void transpose_last2<T>(T*, const T*, int64_t, int64_t, int64_t, bool);
ATTN_INSTANTIATE(float)
ATTN_INSTANTIATE(double)
ATTN_INSTANTIATE(int32_t)
ATTN_INSTANTIATE(int64_t)
ATTN_INSTANTIATE(uint16_t)
#undef ATTN_INSTANTIATE

}  // namespace attn::cpu
