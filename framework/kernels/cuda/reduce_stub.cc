// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "framework/kernels/cuda/reduce.h"

namespace attn::cuda {

int64_t sum_axis_scratch(int64_t, int64_t, int64_t) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void sum_axis(float*, const float*, int64_t, int64_t, int64_t, float, bool, float*) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void broadcast_axis_accumulate(float*, const float*, int64_t, int64_t, int64_t, float) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

}  // namespace attn::cuda
