#include "framework/kernels/cpu/rope.h"

#include <cmath>
#include <vector>

#include "framework/core/threads.h"

namespace attn::cpu {

template <typename T>
void rope_rotate(T* out, const T* x, const int32_t* pos, int64_t tokens, int64_t heads, int64_t dim,
                 double base, RopePairing pairing, bool inverse, bool accumulate) {
  const int64_t half = dim / 2;
  std::vector<double> inv_freq(half);
  for (int64_t i = 0; i < half; ++i) inv_freq[i] = std::pow(base, -2.0 * i / double(dim));
  parallel_chunks(tokens, rows_per_chunk(heads * dim), [&](int64_t t0, int64_t t1) {
    std::vector<T> cos_t(half), sin_t(half);
    for (int64_t t = t0; t < t1; ++t) {
      // Angles in double: positions of long contexts times small frequencies lose bits in f32.
      for (int64_t i = 0; i < half; ++i) {
        double a = double(pos[t]) * inv_freq[i];
        cos_t[i] = T(std::cos(a));
        sin_t[i] = T(inverse ? -std::sin(a) : std::sin(a));
      }
      for (int64_t h = 0; h < heads; ++h) {
        const T* xr = x + (t * heads + h) * dim;
        T* yr = out + (t * heads + h) * dim;
        for (int64_t i = 0; i < half; ++i) {
          int64_t i0 = pairing == RopePairing::kHalf ? i : 2 * i;
          int64_t i1 = pairing == RopePairing::kHalf ? i + half : 2 * i + 1;
          T a = xr[i0], b = xr[i1];
          T r0 = a * cos_t[i] - b * sin_t[i];
          T r1 = a * sin_t[i] + b * cos_t[i];
          if (accumulate) {
            yr[i0] += r0;
            yr[i1] += r1;
          } else {
            yr[i0] = r0;
            yr[i1] = r1;
          }
        }
      }
    }
  });
}

template void rope_rotate<float>(float*, const float*, const int32_t*, int64_t, int64_t, int64_t,
                                 double, RopePairing, bool, bool);
template void rope_rotate<double>(double*, const double*, const int32_t*, int64_t, int64_t, int64_t,
                                  double, RopePairing, bool, bool);

}  // namespace attn::cpu
