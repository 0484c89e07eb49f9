#include "layers/norm.h"

namespace attn {

Norm::Norm(ParamStore& store, const std::string& name, NormType type, int64_t dim, double eps)
    : type_(type), eps_(eps) {
  weight_ = store.declare(name + ".weight", {dim}, ParamInit::ones(), false);
  if (type == NormType::kLayerNorm)
    bias_ = store.declare(name + ".bias", {dim}, ParamInit::zeros(), false);
}

Tensor Norm::operator()(const Tensor& x) const {
  return type_ == NormType::kLayerNorm ? layer_norm(x, weight_, bias_, eps_)
                                       : rms_norm(x, weight_, eps_);
}

AddNormResult Norm::add_then_norm(const Tensor& x, const Tensor& residual) const {
  return type_ == NormType::kLayerNorm ? add_layer_norm(x, residual, weight_, bias_, eps_)
                                       : add_rms_norm(x, residual, weight_, eps_);
}

}  // namespace attn
