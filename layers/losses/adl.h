// ADL, the attention diversification loss (SPEC-attention section 8), per selected layer on the
// head-averaged probabilities: weight * the mean over the selected layers of the layer's mean
// row cosine with the (thresholded) mean attention vector, or of the mean pair cosine
// (losses.adl.pairwise). Runs fused (adl_fused.h, any length) or, with losses.adl.materialise,
// on materialised probabilities (adl_materialised.h, the reference, documents of up to 4096
// tokens). The sink column is not part of the map; rows that see nothing count as 0.
#pragma once

#include <vector>

#include "framework/config/recipe_loader.h"
#include "layers/losses/adl_materialised.h"
#include "layers/losses/attention_loss.h"

namespace attn {

class AdlLoss final : public AttentionLoss {
 public:
  AdlLoss(const attnlab::config::Adl& config, int num_layers);

  std::string name() const override { return "adl"; }
  bool selects(int layer) const override { return layers_[layer]; }
  void request(const PackedSequences&, int64_t, AttentionStatsRequest&) const override {}
  Tensor term(int layer, const AttentionLossInputs& in) const override;

 private:
  double weight_;
  AdlOptions options_;
  bool materialise_ = false;
  std::vector<bool> layers_;
  int selected_layers_ = 0;
};

}  // namespace attn
