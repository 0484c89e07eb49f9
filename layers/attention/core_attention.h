// Core attention O = softmax(scale * Q K^T + mask) V on packed variable-length sequences with the
// memory-efficient tiled algorithm: O(T) memory per head, only O and the row log-sum-exp saved.
#pragma once

#include "framework/core/tensor.h"
#include "layers/attention/attention_mask.h"

namespace attn {

// Fused statistics, per query row and head, computed in the forward passes without a T x T
// buffer. Probabilities include the sink column when a sink is used.
struct AttentionStatsRequest {
  bool entropy = false;           // H_i = -sum_j P_ij log P_ij, and H_i / log(visible keys)
  bool prob_sq_sum = false;       // sum_j P_ij^2
  bool first_token_mass = false;  // P_i0 (key 0 of the row's document)
  bool key_mass = false;          // per key j: sum_i w_i P_ij (w = key_mass_row_weights or 1)
  Tensor key_mass_row_weights;    // optional f32/f64 [tokens_q, heads]
};

struct AttentionStats {
  Tensor entropy;             // [tokens_q, heads]
  Tensor entropy_normalized;  // [tokens_q, heads]; 0 where fewer than 2 keys are visible
  Tensor prob_sq_sum;         // [tokens_q, heads]
  Tensor first_token_mass;    // [tokens_q, heads]
  Tensor key_mass;            // [tokens_k, heads]
};

struct CoreAttentionOptions {
  AttentionMask mask;
  double scale = 0.0;  // 0: 1 / sqrt(head_dim)
  // CPU tile sizes; the result does not depend on them beyond rounding. The CUDA kernel uses
  // its own fixed tiles (layers/attention/attention_kernel_cuda.cu).
  int64_t block_q = 64;
  int64_t block_k = 128;
  AttentionStatsRequest stats;
};

struct CoreAttentionResult {
  Tensor out;  // [tokens_q, heads, head_dim_v]
  Tensor lse;  // [tokens_q, heads] row log-sum-exp (incl. the sink); +inf for rows seeing nothing
  AttentionStats stats;
};

// q [tokens_q, heads, d]; k [tokens_k, kv_heads, d]; v [tokens_k, kv_heads, d_v];
// cu_seqlens_q / cu_seqlens_k i32 [docs + 1] (prefix sums of document lengths; a document may
// have fewer queries than keys: its queries are then the last q_len positions);
// sink: undefined, or [heads] learnable per-head sink logits (an extra key with value 0).
// kv_heads divides heads (GQA/MQA). Differentiable in q, k, v and sink.
// On CUDA (f32 tensors): under the bf16 matmul precision (train.precision BF16) forward and
// backward run on tensor cores with bf16 copies of q, k, v (and dout) when d = dv is 64 or 128
// and no row statistics are requested; otherwise the f32 kernels.
CoreAttentionResult core_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                   const Tensor& cu_seqlens_q, const Tensor& cu_seqlens_k,
                                   const Tensor& sink, const CoreAttentionOptions& options);

// The backward of core_attention() without the tape, on the CPU, for executors that run the
// forward on another rank and keep (or receive again) out and lse: dq, dk, dv of dout. No sink
// and no statistics (their gradients need the tape's extras).
struct CoreAttentionGrads {
  Tensor dq, dk, dv;
};
CoreAttentionGrads core_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                           const Tensor& cu_seqlens_q, const Tensor& cu_seqlens_k,
                                           const CoreAttentionOptions& options, const Tensor& out,
                                           const Tensor& lse, const Tensor& dout);

}  // namespace attn
