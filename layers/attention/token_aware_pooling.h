// TAP, token-aware average pooling (SPEC-attention section 8), adapted to causal packed
// sequences. The attention branch's input becomes a per-token blend of left-only dilated means
//   pool_0(t) = x_t,   pool_d(t) = (x_t + x_{t-d} + x_{t-2d}) / 3   for d = 1, 2, 3
// (zeros before the document's start, as the official zero-padded means), weighted by
//   w_t = softmax over the 4 scales of conv2(conv1(x))_t,
// conv_k causal 3-tap convolutions (taps t, t-1, t-2): width -> 4 -> 4, no future token seen.
// The official predictor puts BatchNorm between the convolutions; batch statistics would mix
// positions (a leak from the future in a causal model), so only its per-channel affine is kept,
// as conv1's bias (its scale folds into conv1's weights). Parameters: <name>.conv1.weight
// [4, 3 width], <name>.conv1.bias [4], <name>.conv2.weight [4, 12]; normal(init_std), bias 0.
#pragma once

#include <string>

#include "framework/core/tensor.h"
#include "layers/linear.h"

namespace attn {

class TokenAwarePooling {
 public:
  static constexpr int kScales = 4;  // dilations 0..3

  TokenAwarePooling(ParamStore& store, const std::string& name, int64_t width, double init_std);

  // x [tokens, width]; documents from cu_seqlens.
  Tensor operator()(const Tensor& x, const Tensor& cu_seqlens) const;

 private:
  Linear conv1_, conv2_;
};

}  // namespace attn
