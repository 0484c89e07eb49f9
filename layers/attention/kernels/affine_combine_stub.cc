// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "layers/attention/kernels/affine_combine.h"

namespace attn::cuda {

void affine_combine_forward(const AffineCombineShape&, const float*, const float*, const float*,
                            const float*, float*, float*, float*) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

void affine_combine_backward(const AffineCombineShape&, const float*, const float*, const float*,
                             const float*, const float*, const float*, float*, float*, float*) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

}  // namespace attn::cuda
