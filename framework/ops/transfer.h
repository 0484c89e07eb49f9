// A differentiable copy between devices: y = x on `device`; the gradient flows back to x's
// device. Lets an op without a kernel on one backend run on the other (at the cost of copies).
#pragma once

#include "framework/core/tensor.h"

namespace attn {

Tensor transfer(const Tensor& x, Device device);

}  // namespace attn
