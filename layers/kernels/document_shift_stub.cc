// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "layers/kernels/document_shift.h"

namespace attn::cuda {

void document_shift(const float*, const int32_t*, int64_t, int64_t, int64_t, int64_t, float*) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

void document_shift_backward(const float*, const int32_t*, int64_t, int64_t, int64_t, int64_t,
                             float*) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

}  // namespace attn::cuda
