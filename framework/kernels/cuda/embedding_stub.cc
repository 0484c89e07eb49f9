// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "framework/kernels/cuda/embedding.h"

namespace attn::cuda {

void embedding_forward(float*, const int32_t*, const float*, int64_t, int64_t) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void embedding_forward(float*, const int64_t*, const float*, int64_t, int64_t) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void embedding_backward(float*, const float*, const int64_t*, const int64_t*, const int64_t*,
                        int64_t, int64_t) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

}  // namespace attn::cuda
