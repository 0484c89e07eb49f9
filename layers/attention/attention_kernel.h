// CPU kernel of core attention: tiled online-softmax forward and block-recomputing backward over
// packed documents, on the problem description shared with CUDA (attention_problem.h). Every
// mask is given as a per-query visible key interval plus key validity.
#pragma once

#include <cstdint>

#include "layers/attention/attention_problem.h"

namespace attn::cpu {

// out [tokens_q, heads, dv] and lse [tokens_q, heads] (sink included; +inf for empty rows).
template <typename T>
void attention_forward(const AttentionProblem<T>& p, T* out, T* lse,
                       const AttentionForwardStats<T>& stats);

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
