// Built without nvcc: tensors can never live on a CUDA device, so these are unreachable; they
// still fail loudly rather than silently doing nothing.
#include "framework/core/error.h"
#include "framework/kernels/cuda/elementwise.h"

namespace attn::cuda {

namespace {
[[noreturn]] void unavailable() {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
}  // namespace

void binary_forward(BinaryOp, float*, const float*, const float*, int64_t) {
  unavailable();
}
void axpy(float*, float, const float*, int64_t) {
  unavailable();
}
void mul_accumulate(float*, const float*, const float*, int64_t) {
  unavailable();
}
void scale(float*, const float*, float, int64_t) {
  unavailable();
}

}  // namespace attn::cuda
