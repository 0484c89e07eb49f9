// AEM, attention entropy maximisation, in its self-attention form (SPEC-attention section 7):
//   L = weight * mean over the selected layers, heads and query rows of sum_j P_ij log P_ij,
// the negative row entropy. The entropy comes from the core op's forward pass; its gradient
// enters the core backward as the per-row dS term w_i P_ij (S_ij - lse_i + H_i), so no T x T
// buffer exists. With a sink, the sink's probability is one more column of the row (its term
// reaches the sink logit). Every row of the batch counts, whatever its loss weight: the loss
// shapes attention, not the predictions.
#pragma once

#include <vector>

#include "framework/config/recipe_loader.h"
#include "layers/losses/attention_loss.h"

namespace attn {

class AemLoss final : public AttentionLoss {
 public:
  // `num_layers` and `num_heads` are the model's; empty lists in `config` select all.
  AemLoss(const attnlab::config::Aem& config, int num_layers, int64_t num_heads);

  std::string name() const override { return "aem"; }
  bool selects(int layer) const override { return layers_[layer]; }
  void request(const PackedSequences& seq, int64_t heads,
               AttentionStatsRequest& stats) const override;
  Tensor term(int layer, const AttentionLossInputs& in) const override;

 private:
  double weight_;
  std::vector<bool> layers_;  // by layer
  int selected_layers_ = 0;
  std::vector<double> heads_;  // 1 for a selected head, else 0
  int64_t selected_heads_ = 0;
};

}  // namespace attn
