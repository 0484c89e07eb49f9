// Differentiable sums and means along one axis or over all elements. Summation order is fixed,
// so results are bit-identical for any thread count.
#pragma once

#include "framework/core/tensor.h"

namespace attn {

Tensor sum(const Tensor& x, int axis, bool keepdim = false);
Tensor mean(const Tensor& x, int axis, bool keepdim = false);
// Over all elements: a tensor of shape [] (one element).
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);

}  // namespace attn
