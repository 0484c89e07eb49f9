// y[t] = x[t - s] inside t's document, 0 before its start: the causal, document-respecting
// shift that token-aware pooling (layers/tap.h) builds its left-only neighbourhoods from.
#pragma once

#include "framework/core/tensor.h"

namespace attn {

// x [tokens, ...] (f32 on CUDA), cu_seqlens i32 [docs + 1] on any device, s >= 0.
// Differentiable in x.
Tensor document_shift(const Tensor& x, const Tensor& cu_seqlens, int64_t s);

}  // namespace attn
