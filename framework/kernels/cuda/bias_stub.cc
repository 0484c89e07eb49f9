// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "framework/kernels/cuda/bias.h"

namespace attn::cuda {

void bias_add(float*, const float*, const float*, int64_t, int64_t) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void scale_rows(float*, const float*, const float*, int64_t, int64_t) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void scale_rows_backward(float*, float*, const float*, const float*, const float*, int64_t,
                         int64_t) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

}  // namespace attn::cuda
