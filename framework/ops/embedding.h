// Differentiable embedding lookup: out[..., :] = table[ids[...], :]. Ids outside the table are
// rejected with the offending position and value (bad data must not read out of bounds).
#pragma once

#include "framework/core/tensor.h"

namespace attn {

// table [vocab, dim], ids i32/i64 [...] -> [..., dim]
Tensor embedding(const Tensor& table, const Tensor& ids);

}  // namespace attn
