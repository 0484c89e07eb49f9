// Plain-loop reference of core attention that materialises P per document and head, in double.
// Slow and O(T^2) on purpose: tests compare every fused path of the tiled kernel against it.
#pragma once

#include <vector>

#include "layers/attention/core_attention.h"

namespace attn {

struct ReferenceAttention {
  // Layouts as the op's: out [tokens_q, heads, dv]; per-row stats [tokens_q, heads];
  // key_mass [tokens_k, heads]; gradients shaped like their inputs; dsink [heads].
  std::vector<double> out, lse, entropy, entropy_normalized, prob_sq_sum, first_token_mass;
  std::vector<double> key_mass;
  std::vector<double> dq, dk, dv, dsink;
};

// dout (optional, [tokens_q, heads, dv]) requests gradients; entropy_grad (optional,
// [tokens_q, heads]) adds d(sum_i g_i H_i) to them. Masks are evaluated from their definitions.
ReferenceAttention reference_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                       const Tensor& cu_seqlens_q, const Tensor& cu_seqlens_k,
                                       const Tensor& sink, const CoreAttentionOptions& options,
                                       const Tensor& dout = {}, const Tensor& entropy_grad = {});

}  // namespace attn
