// CUDA kernel of core attention (f32): flash-style online-softmax forward and tile-recomputing
// backward over packed documents, same semantics as the CPU kernel in attention_kernel.h.
#pragma once

#include <cstdint>

namespace attn::cuda {

// One attention problem over device pointers; the mirror of cpu::AttentionProblem<float>.
// Indices in row_lo/row_hi are relative to the start of the row's document in the key sequence;
// a row with lo > hi sees nothing. head_dim d and dv must be in [1, 128]. The CPU tile sizes
// have no counterpart: the kernels use their own tiles (results differ by rounding only).
// E is the element type of q, k, v: float, or uint16_t holding bf16 bits (the tensor-core
// kernels); everything else is the same for both.
template <typename E>
struct AttentionProblemOf {
  const E* q = nullptr;  // [tokens_q, heads, d]
  const E* k = nullptr;  // [tokens_k, kv_heads, d]
  const E* v = nullptr;  // [tokens_k, kv_heads, dv]
  int64_t heads = 0, kv_heads = 0, d = 0, dv = 0;
  // Host copies of cu_q[docs] and cu_k[docs]: they size the grids without a device read.
  int64_t tokens_q = 0, tokens_k = 0;
  const int32_t* cu_q = nullptr;  // [docs + 1]
  const int32_t* cu_k = nullptr;  // [docs + 1]
  int64_t docs = 0;
  const int32_t* row_lo = nullptr;     // [tokens_q]
  const int32_t* row_hi = nullptr;     // [tokens_q]
  const uint8_t* key_valid = nullptr;  // [tokens_k] or null (all valid)
  const float* sink = nullptr;         // [heads] or null
  float scale = 1;

  // The same problem over other q, k, v (e.g. their bf16 copies).
  template <typename F>
  AttentionProblemOf<F> with_operands(const F* q2, const F* k2, const F* v2) const {
    return {q2,   k2,   v2,   heads,  kv_heads, d,         dv,   tokens_q, tokens_k,
            cu_q, cu_k, docs, row_lo, row_hi,   key_valid, sink, scale};
  }
};
using AttentionProblem = AttentionProblemOf<float>;
using AttentionProblemBf16 = AttentionProblemOf<uint16_t>;

// Optional per-row outputs of the forward ([tokens_q, heads] each; null = not wanted).
struct AttentionForwardStats {
  float* entropy = nullptr;
  float* entropy_normalized = nullptr;
  float* prob_sq_sum = nullptr;
  float* first_token_mass = nullptr;
};

// out [tokens_q, heads, dv] and lse [tokens_q, heads] (sink included; +inf for empty rows).
void attention_forward(const AttentionProblem& p, float* out, float* lse,
                       const AttentionForwardStats& stats);

// entropy_grad [tokens_q, heads] is dL/dH_i for the row entropy H_i (given in `entropy`, from
// the forward); sink-free only.
struct AttentionBackwardExtras {
  const float* entropy_grad = nullptr;
  const float* entropy = nullptr;
};

// Accumulates (+=) into dq, dk, dv (any may be null) and dsink [heads] (may be null).
// out and lse are the forward's results; dout is [tokens_q, heads, dv].
void attention_backward(const AttentionProblem& p, const float* out, const float* lse,
                        const float* dout, float* dq, float* dk, float* dv, float* dsink,
                        const AttentionBackwardExtras& extras);

// key_mass [tokens_k, heads] = sum over visible rows i of w_i P_ij (w = row_weights or 1), from
// the forward's lse; overwritten, like the CPU kernel.
void attention_key_mass(const AttentionProblem& p, const float* lse, const float* row_weights,
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
