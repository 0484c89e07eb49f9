// The combination of affine-scaled attention (SPEC-attention section 4) as one differentiable
// op: y = alpha o + (alpha_ma - alpha) vbar with alpha = clip(z) and vbar the causal running mean
// of v per document, so each row's weights are alpha softmax(S) + beta, beta = (alpha_ma -
// alpha) / N_i, without forming them. Kernels: layers/attention/kernels/affine_combine.h.
#pragma once

#include "framework/core/tensor.h"

namespace attn {

struct AffineCombined {
  Tensor y;      // [tokens, heads, dv]
  Tensor alpha;  // [tokens, heads], clip(z); no gradient (for diagnostics)
};

// o [tokens, heads, dv] (the core attention output), v [tokens, kv_heads, dv], z [tokens, heads]
// (the alpha logits), alpha_ma [heads] (a constant), cu_seqlens i32 [docs + 1] on any device.
// Differentiable in o, v and z; f32 on CUDA.
AffineCombined affine_combine(const Tensor& o, const Tensor& v, const Tensor& z,
                              const Tensor& alpha_ma, const Tensor& cu_seqlens, bool sigmoid_clip);

}  // namespace attn
