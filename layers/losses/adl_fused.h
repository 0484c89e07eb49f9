// ADL without materialised probabilities (SPEC-attention section 8): the same value and gradient
// as adl_materialised, from the core forward's lse, for documents of any length. The kernel
// (kernels/adl_kernel.h) recomputes each query block's probabilities over its visible keys; its
// gradient enters dq, dk and dsink directly. The mean-row statistics couple the rows of a
// document, and the thresholds act on the head average, so the term cannot ride on the core
// backward's per-head dS: the fused path runs its own passes (two forward, one backward).
// CUDA tensors are computed on the host for now.
#pragma once

#include "layers/attention/core_attention.h"
#include "layers/losses/adl_materialised.h"

namespace attn {

// q [tokens, heads, d], k [tokens, kv_heads, d], sink [heads] or undefined, lse [tokens, heads]
// the core forward's for these q, k, sink and mask (a constant here: the kernel differentiates
// through the softmax normalisation itself). Documents from cu_seqlens (queries and keys alike).
// Returns a [] tensor: the sum of the per-document terms divided by the rows.
Tensor adl_fused(const Tensor& q, const Tensor& k, const Tensor& sink, const Tensor& lse,
                 const Tensor& cu_seqlens, const CoreAttentionOptions& options,
                 const AdlOptions& adl);

}  // namespace attn
