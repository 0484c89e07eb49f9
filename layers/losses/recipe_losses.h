// The attention losses a recipe's `losses` block asks for, for a model of `num_layers` blocks
// and `num_heads` query heads. Losses with weight 0 are not built, so the run is the
// unregularised one to the bit.
#pragma once

#include <memory>
#include <vector>

#include "framework/config/recipe_loader.h"
#include "layers/losses/attention_loss.h"

namespace attn {

std::vector<std::unique_ptr<AttentionLoss>> make_attention_losses(
    const attnlab::config::Losses& losses, int num_layers, int64_t num_heads);

// Registers the losses' cross-field rules with recipe validation (ADL's materialising path
// takes documents of up to kAdlMaterialisedMaxLen tokens, so model.seq_len is bounded).
void install_attention_loss_rules();

}  // namespace attn
