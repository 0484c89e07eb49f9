// The sigmoid output gate of gated attention (SPEC-attention section 3), as a component: the GATED
// variant applies it to softmax attention, AFFINE_SCALED composes it with affine scaling.
#pragma once

#include <string>

#include "layers/attention/attention_layer.h"
#include "layers/linear.h"

namespace attn {

class OutputGate {
 public:
  // Parameter <name>.gate.weight: [heads * head_dim, width] (elementwise) or [heads, width]
  // (headwise), normal(init_std), no bias: gates start near 0.5.
  OutputGate(ParamStore& store, const std::string& name, const AttentionSpec& spec);
  // o [n, heads, d] -> o * sigmoid(x Wg^T) (headwise: one gate per token and head). Records the
  // mean gate as attn/gate_mean/l<layer> when diagnosing.
  Tensor operator()(const Tensor& x, const Tensor& o, AttentionContext& ctx) const;

 private:
  bool headwise_;
  int layer_;
  Linear proj_;
};

}  // namespace attn
