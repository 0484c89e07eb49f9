// The standard language-model step: next-token cross-entropy over train.micro_batches batches
// (or the gradient sync's sample groups), one backward per part, the reduction, clipping and
// one optimizer update.
#pragma once

#include "recipes/procedures/procedure.h"

namespace attn {

class LmStep final : public Procedure {
 public:
  explicit LmStep(const TrainingParts& parts) : p_(parts) {}
  StepResult step(int64_t step, double lr, AttentionDiagnostics* diagnostics) override;

 private:
  TrainingParts p_;
};

}  // namespace attn
