// Normalisation layer over the last axis: LayerNorm (weight and bias) or RMSNorm (weight only).
// Parameters are named "<name>.weight" / "<name>.bias" and never weight-decayed.
#pragma once

#include <string>

#include "framework/core/param_store.h"
#include "framework/ops/norm.h"

namespace attn {

enum class NormType { kLayerNorm, kRmsNorm };

class Norm {
 public:
  Norm(ParamStore& store, const std::string& name, NormType type, int64_t dim, double eps);
  Tensor operator()(const Tensor& x) const;
  // {x + residual, norm(x + residual)} in one fused op (the residual add before a pre-norm).
  AddNormResult add_then_norm(const Tensor& x, const Tensor& residual) const;

 private:
  NormType type_;
  double eps_;
  Tensor weight_, bias_;
};

}  // namespace attn
