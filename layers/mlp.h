// Transformer feed-forward block: fc -> GELU -> proj, or SwiGLU: proj(silu(gate x) * up x).
// Parameter names follow "<name>.fc|gate|up|proj.weight" so checkpoints read like PyTorch's.
#pragma once

#include <optional>
#include <string>

#include "layers/linear.h"

namespace attn {

enum class MlpType { kGelu, kGeluTanh, kSwiGlu };

struct MlpConfig {
  int64_t width = 0;
  int64_t hidden = 0;
  MlpType type = MlpType::kGelu;
  bool bias = true;
  double init_std = 0.02;
  double proj_init_std = 0.02;  // output projection (residual branch), often scaled by depth
  LoraOptions lora;             // an adapter on every linear of the block (none by default)
};

class Mlp {
 public:
  Mlp(ParamStore& store, const std::string& name, const MlpConfig& config);
  Tensor operator()(const Tensor& x) const;  // [..., width] -> [..., width]

 private:
  MlpType type_;
  std::optional<Linear> fc_, gate_, up_;
  Linear proj_;
};

}  // namespace attn
