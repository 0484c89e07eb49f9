#include "layers/losses/recipe_losses.h"

#include <fmt/format.h>

#include "framework/config/recipe_rules.h"
#include "layers/losses/adl.h"
#include "layers/losses/aem.h"

namespace attn {

std::vector<std::unique_ptr<AttentionLoss>> make_attention_losses(
    const attnlab::config::Losses& losses, int num_layers, int64_t num_heads) {
  std::vector<std::unique_ptr<AttentionLoss>> out;
  if (losses.aem().weight() > 0)
    out.push_back(std::make_unique<AemLoss>(losses.aem(), num_layers, num_heads));
  if (losses.adl().weight() > 0) out.push_back(std::make_unique<AdlLoss>(losses.adl(), num_layers));
  return out;
}

void install_attention_loss_rules() {
  config::register_recipe_rule("attention losses", [](const attnlab::config::Recipe& r,
                                                      config::RuleCheck& check) {
    if (r.losses().adl().weight() > 0 && r.losses().adl().materialise())
      check.require(r.model().seq_len() <= kAdlMaterialisedMaxLen,
                    {"model.seq_len", "losses.adl.materialise"},
                    fmt::format("ADL's materialising path takes documents of up to {} tokens; "
                                "got seq_len {} (materialise: false runs the fused path)",
                                kAdlMaterialisedMaxLen, r.model().seq_len()));
    // The CUDA core backward folds AEM's per-row weight into dS but not yet into the sink's
    // gradient (attention_kernel_cuda_backward.cu): refused here, not mid-run.
    check.require(!(r.losses().aem().weight() > 0 && r.train().device() == attnlab::config::CUDA &&
                    r.attention().kind() == attnlab::config::Attention::SINK),
                  {"losses.aem.weight", "attention.kind", "train.device"},
                  "AEM with a SINK attention trains on the CPU only so far (on CUDA the "
                  "sink's entropy gradient is not built)");
  });
}

}  // namespace attn
