// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/kernels/cuda/cross_entropy.h"

#include "framework/core/error.h"

namespace attn::cuda {

template <typename I>
void cross_entropy_forward(float*, float*, const float*, const I*, const float*, int64_t, int64_t,
                           I) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
template <typename I>
void cross_entropy_backward(float*, const float*, const float*, const I*, const float*, int64_t,
                            int64_t, I, float, const float*) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void cross_entropy_reduce(float*, const float*, int64_t, float) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

#define ATTN_INSTANTIATE(I)                                                                    \
  template void cross_entropy_forward<I>(float*, float*, const float*, const I*, const float*, \
                                         int64_t, int64_t, I);                                 \
  template void cross_entropy_backward<I>(float*, const float*, const float*, const I*,        \
                                          const float*, int64_t, int64_t, I, float, const float*);
ATTN_INSTANTIATE(int32_t)
ATTN_INSTANTIATE(int64_t)
#undef ATTN_INSTANTIATE

}  // namespace attn::cuda
