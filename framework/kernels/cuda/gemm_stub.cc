// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "framework/kernels/cuda/gemm.h"

namespace attn::cuda {

void gemm_batched(int64_t, bool, bool, int64_t, int64_t, int64_t, float, const void*, int64_t,
                  const void*, int64_t, float, float*, int64_t, MatmulPrecision) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

}  // namespace attn::cuda
