// AdamW (decoupled weight decay, Loshchilov & Hutter) as one fused loop over the flat buffers,
// with the update order of torch.optim.AdamW so results match it to rounding.
#pragma once

#include "optim/optimizer.h"

namespace attn {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
  DecayPolicy decay = DecayPolicy::kByParam;
};

class AdamW final : public Optimizer {
 public:
  AdamW(ParamStore& store, AdamWOptions options, FlatRange range = {});
  // p -= lr wd p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
  // p -= lr / (1-b1^t) * m / (sqrt(v) / sqrt(1-b2^t) + eps)
  void step() override;
  void set_lr(double lr) override { options_.lr = lr; }
  NamedTensors flat_state() const override { return {{"exp_avg", m_}, {"exp_avg_sq", v_}}; }
  NamedScalars scalar_state() const override { return {{"step", static_cast<double>(t_)}}; }
  void load_scalar_state(const NamedScalars& s) override;
  int64_t steps_taken() const { return t_; }

 private:
  AdamWOptions options_;
  Tensor m_, v_;       // [range size] first and second moments
  Tensor decay_mask_;  // [range size]
  int64_t t_ = 0;      // steps taken (bias correction)
};

}  // namespace attn
