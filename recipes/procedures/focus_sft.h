// FocuSFT (SPEC-attention section 9): a bilevel step. Fresh LoRA fast weights on the MLP linears
// of the top layers adapt to the step's batches in a short inner loop (plain SGD, per-tensor
// clipping, base weights and lower layers without gradient); the outer step then trains the base
// weights with AdamW through the adapted model (first-order: no gradient through the inner
// updates). The fast weights are discarded after every step and never checkpointed.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "layers/models/gpt.h"
#include "recipes/procedures/procedure.h"

namespace attn {

// The first layer that gets fast weights: the top `top_fraction` of `layers` (at least one),
// counted as the official code does (layers from int((1 - top_fraction) * layers) up).
int64_t focus_first_layer(int64_t layers, double top_fraction);

// The adapters procedure.focus_sft declares in `fast` (none unless procedure.kind FOCUS_SFT).
MlpAdapters focus_sft_adapters(const config::Recipe& recipe, ParamStore& fast);

// Fresh fast weights for optimizer step `step`: A from (train.seed, step), the same on every
// rank and after a resume; B = 0.
void reset_fast_weights(const TrainingParts& parts, int64_t step);

// The inner loop: focus_sft.inner_steps steps of `sgd` (plain SGD over the fast-weight store, at
// focus_sft.inner_lr) on `batches` (their gradients summed over ranks like the outer step's),
// base weights without gradient. Returns the mean response loss at the start of each inner step
// ([0]: the model before adaptation).
std::vector<double> adapt_fast_weights(const TrainingParts& parts,
                                       const std::vector<Batch>& batches, Optimizer& sgd);

// Plain SGD over `fast` at focus_sft.inner_lr: the inner loop's optimizer.
std::unique_ptr<Optimizer> make_inner_sgd(const config::Recipe& recipe, ParamStore& fast);

class FocusSft final : public Procedure {
 public:
  explicit FocusSft(const TrainingParts& parts);
  StepResult step(int64_t step, double lr, AttentionDiagnostics* diagnostics) override;

 private:
  TrainingParts p_;
  std::unique_ptr<Optimizer> inner_;  // built once: its state buffers are not per step
};

}  // namespace attn
