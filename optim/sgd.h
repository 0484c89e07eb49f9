// SGD with optional momentum and decoupled weight decay, as one loop over the flat buffers:
// v = mu v + g;  p -= lr (v + wd p)   (wd only where the parameter opted into decay).
#pragma once

#include "optim/optimizer.h"

namespace attn {

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double weight_decay = 0.0;
  DecayPolicy decay = DecayPolicy::kByParam;
};

class Sgd final : public Optimizer {
 public:
  Sgd(ParamStore& store, SgdOptions options, FlatRange range = {});
  void step() override;
  void set_lr(double lr) override { options_.lr = lr; }
  NamedTensors flat_state() const override;
  const Tensor& momentum_buffer() const { return velocity_; }

 private:
  SgdOptions options_;
  Tensor velocity_;    // [range size]; undefined without momentum
  Tensor decay_mask_;  // [range size], 1 where weight decay applies
};

}  // namespace attn
