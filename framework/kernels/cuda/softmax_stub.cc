// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "framework/kernels/cuda/softmax.h"

namespace attn::cuda {

void softmax_forward(float*, const float*, int64_t, int64_t, bool) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void softmax_backward(float*, const float*, const float*, int64_t, int64_t, bool) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

}  // namespace attn::cuda
