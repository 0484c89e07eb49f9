// Linear layer y = x W^T + b with W [out, in] (PyTorch's layout, so checkpoints map 1:1).
// Parameters are declared in a ParamStore; the layer holds views, never owns memory.
#pragma once

#include <string>

#include "framework/core/param_store.h"

namespace attn {

class Linear {
 public:
  Linear(ParamStore& store, const std::string& name, int64_t in, int64_t out, bool bias = true,
         double init_std = 0.02);
  // x [..., in] -> [..., out]
  Tensor operator()(const Tensor& x) const;
  // x W^T without the bias, for a caller that fuses the bias into its next op (bias_gelu).
  Tensor project(const Tensor& x) const;

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  Tensor weight_;  // [out, in]
  Tensor bias_;    // [out] or undefined
};

}  // namespace attn
