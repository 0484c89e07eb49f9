#include "layers/losses/aem.h"

#include <fmt/format.h>

#include "framework/core/error.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"

namespace attn {

AemLoss::AemLoss(const attnlab::config::Aem& config, int num_layers, int64_t num_heads)
    : weight_(config.weight()),
      layers_(static_cast<size_t>(num_layers), config.layers().empty()),
      heads_(static_cast<size_t>(num_heads), config.heads().empty() ? 1.0 : 0.0) {
  for (int l : config.layers()) {
    if (l < 0 || l >= num_layers)
      throw Error(ErrorKind::kConfig, "losses.aem.layers",
                  fmt::format("layer {} does not exist ({} layers)", l, num_layers));
    layers_[l] = true;
  }
  for (int h : config.heads()) {
    if (h < 0 || h >= num_heads)
      throw Error(ErrorKind::kConfig, "losses.aem.heads",
                  fmt::format("head {} does not exist ({} heads)", h, num_heads));
    heads_[h] = 1.0;
  }
  for (bool on : layers_) selected_layers_ += on;
  for (double on : heads_) selected_heads_ += on > 0;
}

void AemLoss::request(const PackedSequences&, int64_t heads, AttentionStatsRequest& stats) const {
  ATTN_CHECK(heads == static_cast<int64_t>(heads_.size()),
             "AEM was set up for {} heads, the layer has {}", heads_.size(), heads);
  stats.entropy = true;
}

Tensor AemLoss::term(int, const AttentionLossInputs& in) const {
  const Tensor& h = in.stats.entropy;  // [rows, heads]
  const int64_t rows = h.size(0);
  const double per = -weight_ / selected_layers_;
  if (rows == 0) return scale(sum(h), 0.0);
  if (selected_heads_ == static_cast<int64_t>(heads_.size())) return scale(mean(h), per);
  std::vector<double> mask(static_cast<size_t>(h.numel()));
  for (int64_t i = 0; i < rows; ++i)
    for (size_t c = 0; c < heads_.size(); ++c) mask[i * heads_.size() + c] = heads_[c];
  const Tensor m = Tensor::from_vector<double>(h.shape(), mask).to(h.dtype()).to(h.device());
  return scale(sum(mul(h, m)), per / static_cast<double>(rows * selected_heads_));
}

}  // namespace attn
