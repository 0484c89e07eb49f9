// Sizes a recipe implies, computed in double from the recipe alone (no overflow, nothing built):
// validation bounds them, and the trainer compares them with the machine before allocating.
#pragma once

#include "framework/config/recipe.pb.h"

namespace attn::config {

// Parameters of the GPT `model` describes (embeddings, blocks, final norm, head).
double estimated_parameters(const attnlab::config::Model& model);

// Bytes one training step holds at its peak, roughly and on the high side: weights, gradients
// and two AdamW moments (16 bytes a parameter), plus the activations the tape keeps for one
// micro-batch of `tokens` tokens (every block's inputs, projections, MLP hidden states, and the
// logits with their gradient).
struct StepMemory {
  double weights = 0;
  double activations = 0;
  double total() const { return weights + activations; }
};
StepMemory estimated_step_memory(const attnlab::config::Model& model, double tokens);

}  // namespace attn::config
