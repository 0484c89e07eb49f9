// A training procedure: what one optimizer step does with the model, the data and the gradient
// reduction. The trainer owns the run (schedule, logging, evaluation, checkpoints, signals) and
// calls step() once per optimizer step; the procedure owns everything inside the step.
//
// Built: the standard language-model step (lm_step.h) and FocuSFT's bilevel step (focus_sft.h,
// procedure.kind FOCUS_SFT, SPEC-attention section 9).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "framework/config/recipe_loader.h"
#include "layers/attention/attention_diagnostics.h"
#include "layers/models/gpt.h"
#include "optim/optimizer.h"
#include "parallel/comm/communicator.h"
#include "parallel/gradient_sync.h"
#include "recipes/data/batch_stream.h"

namespace attn {

// The pieces of a run a procedure works on, all owned by the trainer.
struct TrainingParts {
  const config::Recipe& recipe;
  Gpt& model;
  ParamStore& store;
  Optimizer& optimizer;  // its learning rate is set by the trainer before each step
  BatchStream& loader;
  GradientSync& sync;
  Communicator& comm;           // host values (losses, token counts) over all ranks
  Communicator& buffers;        // the same ranks over the parameters' device (NCCL on GPUs)
  std::string checkpoints_dir;  // named in errors that stop the run
  // The model's fast weights (adapters declared by the procedure's own layers, never
  // checkpointed); null for procedures without them.
  ParamStore* fast_weights = nullptr;
};

struct StepResult {
  double loss = 0;  // mean cross-entropy over the step's target tokens, all ranks
  double grad_norm = 0;
  int64_t tokens = 0;   // target tokens of the step, all ranks
  double aux_loss = 0;  // the layers' auxiliary losses (optimised too, not part of `loss`)
  // Each attention loss's weighted term per layer ("loss/<name>/l<layer>"), all ranks; part of
  // aux_loss.
  std::map<std::string, double> attention_losses;
  // The procedure's own values, logged under these keys (e.g. "focus/base_loss").
  std::map<std::string, double> metrics;
};

class Procedure {
 public:
  virtual ~Procedure() = default;
  // Optimizer step number `step` (0-based) at learning rate `lr`; `diagnostics`, when set,
  // receives the attention statistics of the step's first batch.
  virtual StepResult step(int64_t step, double lr, AttentionDiagnostics* diagnostics) = 0;
};

// The procedure procedure.kind asks for.
std::unique_ptr<Procedure> make_procedure(const TrainingParts& parts);

}  // namespace attn
