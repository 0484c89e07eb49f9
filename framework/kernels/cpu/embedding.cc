#include "framework/kernels/cpu/embedding.h"

#include <cstring>

#include "framework/core/threads.h"

namespace attn::cpu {

template <typename T, typename I>
void embedding_forward(T* out, const I* ids, const T* table, int64_t n, int64_t dim) {
  parallel_chunks(n, rows_per_chunk(dim), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      std::memcpy(out + t * dim, table + static_cast<int64_t>(ids[t]) * dim, dim * sizeof(T));
  });
}

template <typename T, typename I>
void embedding_backward(T* dtable, const T* dout, const I* ids, int64_t n, int64_t dim) {
  parallel_chunks(dim, 64, [&](int64_t c0, int64_t c1) {
    for (int64_t t = 0; t < n; ++t) {
      T* dst = dtable + static_cast<int64_t>(ids[t]) * dim;
      const T* src = dout + t * dim;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  });
}

#define ATTN_INSTANTIATE(T, I)                                                     \
  template void embedding_forward<T, I>(T*, const I*, const T*, int64_t, int64_t); \
  template void embedding_backward<T, I>(T*, const T*, const I*, int64_t, int64_t);
ATTN_INSTANTIATE(float, int32_t)
ATTN_INSTANTIATE(float, int64_t)
ATTN_INSTANTIATE(double, int32_t)
ATTN_INSTANTIATE(double, int64_t)
#undef ATTN_INSTANTIATE

}  // namespace attn::cpu
