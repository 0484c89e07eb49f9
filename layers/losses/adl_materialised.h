// ADL on materialised attention probabilities (SPEC-attention section 8): the reference path,
// for documents of up to kAdlMaterialisedMaxLen tokens. Per document it forms the head-averaged
// probabilities Abar [N, N] (visible keys only, the sink column left out) in double, thresholds
// rows at theta / N_i (N_i the keys row i sees) and the mean row at theta / N, and returns
//   mean form:     sum over rows i of cos(u, v_i)
//   pairwise form: N * (|sum_i vhat_i|^2 - sum_i |vhat_i|^2) / (N (N - 1))   (0 for N = 1)
// summed over documents and divided by the batch's rows; cos(a, b) = a.b / max(|a||b|, eps)
// and vhat = v / max(|v|, eps). Nothing but the indicators is detached: the backward recomputes
// each head's probabilities and returns dq, dk and dsink through dS = P (dP - D), dP = dAbar / H.
// CUDA tensors are computed on the host (a reference path, not a fast one).
#pragma once

#include "layers/attention/core_attention.h"

namespace attn {

constexpr int64_t kAdlMaterialisedMaxLen = 4096;

struct AdlOptions {
  double theta = 2;
  bool pairwise = false;
  double eps = 1e-8;
};

// q [tokens, heads, d], k [tokens, kv_heads, d], sink [heads] or undefined; documents from
// cu_seqlens (queries and keys alike), the mask and scale of `options`. Returns a [] tensor.
Tensor adl_materialised(const Tensor& q, const Tensor& k, const Tensor& sink,
                        const Tensor& cu_seqlens, const CoreAttentionOptions& options,
                        const AdlOptions& adl);

}  // namespace attn
