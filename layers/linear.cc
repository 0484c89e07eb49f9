#include "layers/linear.h"

#include "framework/ops/elementwise.h"
#include "framework/ops/matmul.h"

namespace attn {

Linear::Linear(ParamStore& store, const std::string& name, int64_t in, int64_t out, bool bias,
               double init_std) {
  weight_ = store.declare(name + ".weight", {out, in}, ParamInit::normal(init_std));
  if (bias) bias_ = store.declare(name + ".bias", {out}, ParamInit::zeros(), false);
}

Tensor Linear::operator()(const Tensor& x) const {
  Tensor y = project(x);
  return bias_.defined() ? add_bias(y, bias_) : y;
}

Tensor Linear::project(const Tensor& x) const {
  return matmul(x, weight_, false, true);
}

}  // namespace attn
