// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "layers/attention/kernels/topk_gates.h"

namespace attn::cuda {

void topk_gates_forward(const float*, int64_t, int64_t, int64_t, float*, int32_t*) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

void topk_gates_backward(const float*, const int32_t*, const float*, const float*, int64_t, int64_t,
                         int64_t, float*) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

void topk_fraction(const int32_t*, int64_t, int64_t, float*) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

}  // namespace attn::cuda
