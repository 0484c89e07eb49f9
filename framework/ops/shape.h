// Differentiable shape ops. reshape and first-axis slices are free views of the same storage;
// slices along other axes, concat, split and transpose copy (tensors stay contiguous).
#pragma once

#include <vector>

#include "framework/core/tensor.h"

namespace attn {

// One dimension may be -1 (inferred).
Tensor reshape(const Tensor& x, const std::vector<int64_t>& dims);
// Elements [begin, end) along `axis`.
Tensor slice(const Tensor& x, int axis, int64_t begin, int64_t end);
Tensor concat(const std::vector<Tensor>& xs, int axis);
// Pieces of the given sizes along `axis` (sizes must add up to x.size(axis)).
std::vector<Tensor> split(const Tensor& x, int axis, const std::vector<int64_t>& sizes);
// [..., r, c] -> [..., c, r]
Tensor transpose_last2(const Tensor& x);

}  // namespace attn
