#include "layers/kernels/document_shift.h"

namespace attn::cpu {

template <typename T>
void document_shift(const T* x, const int32_t* cu, int64_t docs, int64_t cols, int64_t s, T* y) {
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < docs; ++b)
    for (int64_t t = cu[b]; t < cu[b + 1]; ++t) {
      T* out = y + t * cols;
      const bool inside = t - s >= cu[b];
      const T* in = inside ? x + (t - s) * cols : nullptr;
      for (int64_t c = 0; c < cols; ++c) out[c] = inside ? in[c] : T(0);
    }
}

template <typename T>
void document_shift_backward(const T* dy, const int32_t* cu, int64_t docs, int64_t cols, int64_t s,
                             T* dx) {
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < docs; ++b)
    for (int64_t t = cu[b]; t + s < cu[b + 1]; ++t)
      for (int64_t c = 0; c < cols; ++c) dx[t * cols + c] += dy[(t + s) * cols + c];
}

template void document_shift<float>(const float*, const int32_t*, int64_t, int64_t, int64_t,
                                    float*);
template void document_shift<double>(const double*, const int32_t*, int64_t, int64_t, int64_t,
                                     double*);
template void document_shift_backward<float>(const float*, const int32_t*, int64_t, int64_t,
                                             int64_t, float*);
template void document_shift_backward<double>(const double*, const int32_t*, int64_t, int64_t,
                                              int64_t, double*);

}  // namespace attn::cpu
