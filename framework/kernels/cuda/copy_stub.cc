// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "framework/kernels/cuda/copy.h"

namespace attn::cuda {

void copy_blocks(float*, int64_t, const float*, int64_t, int64_t, int64_t, bool) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void transpose_last2(float*, const float*, int64_t, int64_t, int64_t, bool) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void copy_blocks_raw(void*, int64_t, const void*, int64_t, int64_t, int64_t, int64_t) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void transpose_last2_raw(void*, const void*, int64_t, int64_t, int64_t, int64_t) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

}  // namespace attn::cuda
