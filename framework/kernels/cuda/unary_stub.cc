// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "framework/kernels/cuda/unary.h"

namespace attn::cuda {

void unary_forward(UnaryOp, float*, const float*, int64_t, const float*, int64_t) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void unary_backward(UnaryOp, float*, const float*, const float*, const float*, int64_t,
                    const float*, int64_t) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

}  // namespace attn::cuda
