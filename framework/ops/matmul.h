// Differentiable matrix products. matmul: a [..., m, k] x b [k, n] with a's leading dimensions
// flattened (linear layers); bmm: batched products with identical leading dimensions.
#pragma once

#include "framework/core/tensor.h"

namespace attn {

// a [..., m, k] (trans_a: a is 2-D [k, m]); b [k, n] (trans_b: [n, k]) -> [..., m, n].
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// a [B..., m, k] (trans_a: [B..., k, m]); b [B..., k, n] (trans_b: [B..., n, k]) -> [B..., m, n].
Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

}  // namespace attn
