#include "layers/mlp.h"

#include "framework/ops/elementwise.h"
#include "framework/ops/unary.h"

namespace attn {

Mlp::Mlp(ParamStore& store, const std::string& name, const MlpConfig& c)
    : type_(c.type),
      // Declaration order is the checkpoint order: inputs first, then the projection.
      fc_(c.type == MlpType::kSwiGlu
              ? std::nullopt
              : std::optional<Linear>(std::in_place, store, name + ".fc", c.width, c.hidden, c.bias,
                                      c.init_std, c.lora)),
      gate_(c.type != MlpType::kSwiGlu
                ? std::nullopt
                : std::optional<Linear>(std::in_place, store, name + ".gate", c.width, c.hidden,
                                        c.bias, c.init_std, c.lora)),
      up_(c.type != MlpType::kSwiGlu
              ? std::nullopt
              : std::optional<Linear>(std::in_place, store, name + ".up", c.width, c.hidden, c.bias,
                                      c.init_std, c.lora)),
      proj_(store, name + ".proj", c.hidden, c.width, c.bias, c.proj_init_std, c.lora) {}

Tensor Mlp::operator()(const Tensor& x) const {
  switch (type_) {
    // The first bias is fused into the GELU: the [tokens, hidden] pre-activation is never stored.
    case MlpType::kGelu:
      return proj_(bias_gelu(fc_->project(x), fc_->bias(), GeluApprox::kErf));
    case MlpType::kGeluTanh:
      return proj_(bias_gelu(fc_->project(x), fc_->bias(), GeluApprox::kTanh));
    case MlpType::kSwiGlu:
      return proj_(mul(silu((*gate_)(x)), (*up_)(x)));
  }
  return {};
}

}  // namespace attn
