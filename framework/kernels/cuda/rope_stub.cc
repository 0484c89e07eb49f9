// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "framework/kernels/cuda/rope.h"

namespace attn::cuda {

void rope_rotate(float*, const float*, const int32_t*, int64_t, int64_t, int64_t, double,
                 RopePairing, bool, bool) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

}  // namespace attn::cuda
