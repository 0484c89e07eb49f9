// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "framework/kernels/cuda/optimizer_step.h"

namespace attn::cuda {

namespace {
[[noreturn]] void unavailable() {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
}  // namespace

void adamw_step(const AdamWStep&, float*, const float*, float*, float*, const float*, int64_t) {
  unavailable();
}
void sgd_step(float, float, float, float*, const float*, float*, const float*, int64_t) {
  unavailable();
}
double sum_squares(const float*, int64_t) {
  unavailable();
}

}  // namespace attn::cuda
