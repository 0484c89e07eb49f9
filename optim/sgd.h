// SGD with optional momentum and decoupled weight decay, as one loop over the flat buffers:
// v = mu v + g;  p -= lr (v + wd p)   (wd only where the parameter opted into decay).
#pragma once

#include "framework/core/param_store.h"

namespace attn {

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double weight_decay = 0.0;
};

class Sgd {
 public:
  Sgd(ParamStore& store, SgdOptions options);
  void step();
  void set_lr(double lr) { options_.lr = lr; }
  const Tensor& momentum_buffer() const { return velocity_; }

 private:
  ParamStore& store_;
  SgdOptions options_;
  Tensor velocity_;    // [padded_size], flat layout
  Tensor decay_mask_;  // [padded_size], 1 where weight decay applies
};

}  // namespace attn
