// Fused softmax cross-entropy over a vocabulary: the forward keeps only the row log-sum-exp, the
// backward rebuilds probabilities from the logits, so logits are never materialised twice.
#pragma once

#include <cstdint>

namespace attn::cpu {

// logits [n, v]; targets [n]; weights [n] or null (= 1). Rows whose target equals ignore_index
// get row_loss 0. row_loss[i] = w_i * (lse_i - logits[i, t_i]); lse [n] is saved for backward.
template <typename T, typename I>
void cross_entropy_forward(T* row_loss, T* lse, const T* logits, const I* targets, const T* weights,
                           int64_t n, int64_t v, I ignore_index);

// dlogits[i, :] += scale * w_i * (softmax(logits_i) - onehot(t_i)), skipping ignored rows.
template <typename T, typename I>
void cross_entropy_backward(T* dlogits, const T* logits, const T* lse, const I* targets,
                            const T* weights, int64_t n, int64_t v, I ignore_index, T scale);

}  // namespace attn::cpu
