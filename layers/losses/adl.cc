#include "layers/losses/adl.h"

#include <fmt/format.h>

#include "framework/core/error.h"
#include "framework/ops/elementwise.h"
#include "layers/losses/adl_fused.h"

namespace attn {

AdlLoss::AdlLoss(const attnlab::config::Adl& config, int num_layers)
    : weight_(config.weight()), layers_(static_cast<size_t>(num_layers), config.layers().empty()) {
  options_.theta = config.theta();
  options_.pairwise = config.pairwise();
  materialise_ = config.materialise();
  for (int l : config.layers()) {
    if (l < 0 || l >= num_layers)
      throw Error(ErrorKind::kConfig, "losses.adl.layers",
                  fmt::format("layer {} does not exist ({} layers)", l, num_layers));
    layers_[l] = true;
  }
  for (bool on : layers_) selected_layers_ += on;
}

Tensor AdlLoss::term(int, const AttentionLossInputs& in) const {
  const Tensor value =
      materialise_
          ? adl_materialised(in.q, in.k, in.sink, in.seq.cu_seqlens, in.options, options_)
          : adl_fused(in.q, in.k, in.sink, in.lse, in.seq.cu_seqlens, in.options, options_);
  return scale(value, weight_ / selected_layers_);
}

}  // namespace attn
