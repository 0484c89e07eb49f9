// The one description of a core-attention problem that both kernels read: the CPU kernel
// (attention_kernel.h, any float type) and the CUDA kernels (attention_kernel_cuda.h, f32 and
// bf16 operands). core_attention.cc fills it once per call from tensors; kernels never see a
// mask, only each query row's visible key interval and the keys' validity.
#pragma once

#include <cstdint>

namespace attn {

// Indices in row_lo/row_hi are relative to the start of the row's document in the key sequence;
// a row with lo > hi sees nothing. E is the element type of q, k, v (float, double, or uint16_t
// holding bf16 bits for the CUDA tensor-core kernels); S that of the sink and scale.
template <typename E, typename S = E>
struct AttentionProblem {
  const E* q = nullptr;  // [tokens_q, heads, d]
  const E* k = nullptr;  // [tokens_k, kv_heads, d]
  const E* v = nullptr;  // [tokens_k, kv_heads, dv]
  int64_t heads = 0, kv_heads = 0, d = 0, dv = 0;
  // Host copies of cu_q[docs] and cu_k[docs]: they size CUDA grids without a device read.
  int64_t tokens_q = 0, tokens_k = 0;
  const int32_t* cu_q = nullptr;  // [docs + 1]
  const int32_t* cu_k = nullptr;  // [docs + 1]
  int64_t docs = 0;
  const int32_t* row_lo = nullptr;     // [tokens_q]
  const int32_t* row_hi = nullptr;     // [tokens_q]
  const uint8_t* key_valid = nullptr;  // [tokens_k] or null (all valid)
  const S* sink = nullptr;             // [heads] or null
  S scale = 1;
  // Tile sizes of the CPU kernel; the CUDA kernels use their own (results differ by rounding).
  int64_t block_q = 64, block_k = 128;

  // The same problem over other q, k, v (e.g. their bf16 copies).
  template <typename F>
  AttentionProblem<F, S> with_operands(const F* q2, const F* k2, const F* v2) const {
    AttentionProblem<F, S> p;
    p.q = q2, p.k = k2, p.v = v2;
    p.heads = heads, p.kv_heads = kv_heads, p.d = d, p.dv = dv;
    p.tokens_q = tokens_q, p.tokens_k = tokens_k;
    p.cu_q = cu_q, p.cu_k = cu_k, p.docs = docs;
    p.row_lo = row_lo, p.row_hi = row_hi, p.key_valid = key_valid;
    p.sink = sink, p.scale = scale;
    p.block_q = block_q, p.block_k = block_k;
    return p;
  }
};

// Optional per-row outputs of the forward ([tokens_q, heads] each; null = not wanted).
template <typename T>
struct AttentionForwardStats {
  T* entropy = nullptr;
  T* entropy_normalized = nullptr;
  T* prob_sq_sum = nullptr;
  T* first_token_mass = nullptr;
};

// Extra terms folded into dS so attention losses need no T x T matrix. entropy_grad [tokens_q,
// heads] is dL/dH_i for the row entropy H_i (given in `entropy`, from the forward); with a sink,
// H includes the sink column and its term reaches dsink.
//
// key_mass_grad [tokens_k, heads] is dL/dM_j for the key mass M_j = sum_i w_i P_ij (w =
// key_mass_row_weights [tokens_q, heads], null = 1, constants): the extra dP term
// dP_extra_ij = w_i dL/dM_j of any loss defined on the mass each key receives (ADL's mean
// attention vector). It costs one more pass over the tiles for D_i = sum_j P_ij dP_ij.
//
// A backend that lacks an extra refuses a problem that sets it (the CUDA kernels take the
// sink-free entropy term only); none drops one.
template <typename T>
struct AttentionBackwardExtras {
  const T* entropy_grad = nullptr;
  const T* entropy = nullptr;
  const T* key_mass_grad = nullptr;
  const T* key_mass_row_weights = nullptr;
};

}  // namespace attn
