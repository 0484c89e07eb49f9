// CUDA fused softmax cross-entropy over a vocabulary (f32 logits, device pointers), mirroring
// framework/kernels/cpu/cross_entropy.h; the forward keeps only the row log-sum-exp.
#pragma once

#include <cstdint>

namespace attn::cuda {

// logits [n, v]; targets [n] (int32_t or int64_t); weights [n] or null (= 1). Rows whose target
// equals ignore_index get row_loss 0. row_loss[i] = w_i * (lse_i - logits[i, t_i]); lse [n] is
// saved for backward. Targets must be in [0, v) (the op checks); others give a NaN row loss.
template <typename I>
void cross_entropy_forward(float* row_loss, float* lse, const float* logits, const I* targets,
                           const float* weights, int64_t n, int64_t v, I ignore_index);

// dlogits[i, :] += scale * d * w_i * (softmax(logits_i) - onehot(t_i)), skipping ignored rows,
// with d = *dloss, read on the device (no host synchronisation for the loss gradient), or 1
// when dloss is null. The CPU kernel has no dloss argument: its op folds d into scale.
template <typename I>
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const I* targets,
                            const float* weights, int64_t n, int64_t v, I ignore_index, float scale,
                            const float* dloss = nullptr);

// *loss = scale * sum_i row_loss[i] in a fixed order (one block); the CPU op uses sum_axis.
void cross_entropy_reduce(float* loss, const float* row_loss, int64_t n, float scale);

}  // namespace attn::cuda
