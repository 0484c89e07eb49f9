// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "framework/kernels/cuda/cast.h"

namespace attn::cuda {

void cast_f32_to_bf16(uint16_t*, const float*, int64_t) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void cast_bf16_to_f32(float*, const uint16_t*, int64_t) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

}  // namespace attn::cuda
