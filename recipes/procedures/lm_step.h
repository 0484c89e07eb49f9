// The standard language-model step: next-token cross-entropy over train.micro_batches batches
// (or the gradient sync's sample groups), one backward per part, the reduction, clipping and
// one optimizer update. Its two halves are shared with the procedures built on it (FocuSFT adds
// an inner loop between them).
#pragma once

#include <vector>

#include "recipes/procedures/procedure.h"

namespace attn {

// The step's batches on this rank: train.micro_batches loader batches, or the sync's sample
// groups cut from one.
std::vector<Batch> next_step_batches(const TrainingParts& parts);

// Target tokens of `batches` summed over all ranks (each batch's loss is weighted by its share).
int64_t global_target_tokens(const TrainingParts& parts, const std::vector<Batch>& batches);

// Loss, backward of every part through the gradient sync, clipping and the optimizer update.
StepResult update_on(const TrainingParts& parts, const std::vector<Batch>& batches, int64_t step,
                     double lr, AttentionDiagnostics* diagnostics);

class LmStep final : public Procedure {
 public:
  explicit LmStep(const TrainingParts& parts) : p_(parts) {}
  StepResult step(int64_t step, double lr, AttentionDiagnostics* diagnostics) override {
    return update_on(p_, next_step_batches(p_), step, lr, diagnostics);
  }

 private:
  TrainingParts p_;
};

}  // namespace attn
