// CUDA kernel of core attention (f32): flash-style online-softmax forward and tile-recomputing
// backward over packed documents, same semantics as the CPU kernel in attention_kernel.h.
#pragma once

#include <cstdint>

#include "layers/attention/attention_problem.h"

namespace attn::cuda {

// The shared problem description (attention_problem.h) over device pointers. head_dim d and dv
// must be in [1, 128]; block_q/block_k are ignored (the kernels use their own tiles, so results
// differ from the CPU kernel by rounding only). bf16 problems hold q, k, v as raw bf16 bits.
using AttentionProblemF32 = AttentionProblem<float>;
using AttentionProblemBf16 = AttentionProblem<uint16_t, float>;

// out [tokens_q, heads, dv] and lse [tokens_q, heads] (sink included; +inf for empty rows).
void attention_forward(const AttentionProblemF32& p, float* out, float* lse,
                       const AttentionForwardStats<float>& stats);

// Accumulates (+=) into dq, dk, dv (any may be null) and dsink [heads] (may be null).
// out and lse are the forward's results; dout is [tokens_q, heads, dv]. Of the extras only the
// sink-free entropy term is built: a key-mass gradient, or an entropy gradient with a sink, is
// refused (ATTN_CHECK), never dropped.
void attention_backward(const AttentionProblemF32& p, const float* out, const float* lse,
                        const float* dout, float* dq, float* dk, float* dv, float* dsink,
                        const AttentionBackwardExtras<float>& extras);

// key_mass [tokens_k, heads] = sum over visible rows i of w_i P_ij (w = row_weights or 1), from
// the forward's lse; overwritten, like the CPU kernel.
void attention_key_mass(const AttentionProblemF32& p, const float* lse, const float* row_weights,
                        float* key_mass);

// The tensor-core forward (attention_kernel_cuda_mma.cu): bf16 q/k/v (raw bits, as uint16_t),
// f32 accumulation, for d = dv in {64, 128} and compute capability 8.0+ (q 4-byte, k and v
// 16-byte aligned). No statistics. out [tokens_q, heads, dv] and lse
// [tokens_q, heads] mean exactly what attention_forward writes, so either backward can consume
// them; results differ from the f32 forward by P being rounded to bf16 in P V.
void attention_forward_bf16(const AttentionProblemBf16& p, float* out, float* lse);

// The tensor-core backward (attention_kernel_cuda_mma_backward.cu): attention_backward's contract
// without the entropy extras, for the same problems as attention_forward_bf16 (q, k, v and dout
// 16-byte aligned). Accumulates (+=) into dq [tokens_q, heads, d], dk, dv [tokens_k, kv_heads, d]
// and dsink [heads] (any may be null); dout [tokens_q, heads, dv] is bf16, out and lse are f32
// from either forward. Deterministic (no float atomics); differs from the f32 backward on the same
// inputs by P and dS being rounded to bf16 in the products dV = P^T dO, dK = dS^T Q, dQ = dS K.
void attention_backward_bf16(const AttentionProblemBf16& p, const float* out, const float* lse,
                             const uint16_t* dout, float* dq, float* dk, float* dv, float* dsink);

}  // namespace attn::cuda
