#include "layers/losses/recipe_losses.h"

#include "layers/losses/aem.h"

namespace attn {

std::vector<std::unique_ptr<AttentionLoss>> make_attention_losses(
    const attnlab::config::Losses& losses, int num_layers, int64_t num_heads) {
  std::vector<std::unique_ptr<AttentionLoss>> out;
  if (losses.aem().weight() > 0)
    out.push_back(std::make_unique<AemLoss>(losses.aem(), num_layers, num_heads));
  // ADL is refused by validation until it is built (framework/config/unbuilt_features.cc).
  return out;
}

}  // namespace attn
