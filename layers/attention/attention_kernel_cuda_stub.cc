// Built without nvcc: unreachable (no tensor can live on a CUDA device), but loud.
#include "framework/core/error.h"
#include "layers/attention/attention_kernel_cuda.h"

namespace attn::cuda {

void attention_forward(const AttentionProblemF32&, float*, float*,
                       const AttentionForwardStats<float>&) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void attention_backward(const AttentionProblemF32&, const float*, const float*, const float*,
                        float*, float*, float*, float*, const AttentionBackwardExtras<float>&) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void attention_key_mass(const AttentionProblemF32&, const float*, const float*, float*) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void attention_forward_bf16(const AttentionProblemBf16&, float*, float*) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}
void attention_backward_bf16(const AttentionProblemBf16&, const float*, const float*,
                             const uint16_t*, float*, float*, float*, float*) {
  ATTN_FAIL(kInternal, "CUDA kernel called in a CPU-only build");
}

}  // namespace attn::cuda
