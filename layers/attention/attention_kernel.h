// CPU kernel of core attention: tiled online-softmax forward and block-recomputing backward over
// packed documents. Every mask is given as a per-query visible key interval plus key validity.
#pragma once

#include <cstdint>

namespace attn::cpu {

// One attention problem over raw pointers. Indices in row_lo/row_hi are relative to the start of
// the row's document in the key sequence; a row with lo > hi sees nothing.
template <typename T>
struct AttentionProblem {
  const T* q = nullptr;  // [tokens_q, heads, d]
  const T* k = nullptr;  // [tokens_k, kv_heads, d]
  const T* v = nullptr;  // [tokens_k, kv_heads, dv]
  int64_t heads = 0, kv_heads = 0, d = 0, dv = 0;
  const int32_t* cu_q = nullptr;  // [docs + 1]
  const int32_t* cu_k = nullptr;  // [docs + 1]
  int64_t docs = 0;
  const int32_t* row_lo = nullptr;     // [tokens_q]
  const int32_t* row_hi = nullptr;     // [tokens_q]
  const uint8_t* key_valid = nullptr;  // [tokens_k] or null (all valid)
  const T* sink = nullptr;             // [heads] or null
  T scale = 1;
  int64_t block_q = 64, block_k = 128;
};

// Optional per-row outputs of the forward ([tokens_q, heads] each; null = not wanted).
template <typename T>
struct AttentionForwardStats {
  T* entropy = nullptr;
  T* entropy_normalized = nullptr;
  T* prob_sq_sum = nullptr;
  T* first_token_mass = nullptr;
};

// out [tokens_q, heads, dv] and lse [tokens_q, heads] (sink included; +inf for empty rows).
template <typename T>
void attention_forward(const AttentionProblem<T>& p, T* out, T* lse,
                       const AttentionForwardStats<T>& stats);

// Extra terms folded into dS so attention losses need no T x T matrix. entropy_grad [tokens_q,
// heads] is dL/dH_i for the row entropy H_i (given in `entropy`, from the forward); with a sink,
// H includes the sink column and its term reaches dsink.
//
// key_mass_grad [tokens_k, heads] is dL/dM_j for the key mass M_j = sum_i w_i P_ij (w =
// key_mass_row_weights [tokens_q, heads], null = 1, constants): the extra dP term
// dP_extra_ij = w_i dL/dM_j of any loss defined on the mass each key receives (ADL's mean
// attention vector). It costs one more pass over the tiles for D_i = sum_j P_ij dP_ij.
template <typename T>
struct AttentionBackwardExtras {
  const T* entropy_grad = nullptr;
  const T* entropy = nullptr;
  const T* key_mass_grad = nullptr;
  const T* key_mass_row_weights = nullptr;
};

// Accumulates (+=) into dq, dk, dv (any may be null) and dsink [heads] (may be null).
// out and lse are the forward's results; dout is [tokens_q, heads, dv].
template <typename T>
void attention_backward(const AttentionProblem<T>& p, const T* out, const T* lse, const T* dout,
                        T* dq, T* dk, T* dv, T* dsink, const AttentionBackwardExtras<T>& extras);

// key_mass [tokens_k, heads] = sum over visible rows i of w_i P_ij (w = row_weights or 1), from
// the forward's lse; one extra pass over the tiles.
template <typename T>
void attention_key_mass(const AttentionProblem<T>& p, const T* lse, const T* row_weights,
                        T* key_mass);

}  // namespace attn::cpu
