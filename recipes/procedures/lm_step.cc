#include "recipes/procedures/lm_step.h"

#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/elementwise.h"
#include "recipes/run/checkpoint.h"

namespace attn {

namespace {

std::string loss_key(const std::string& name, int layer) {
  return fmt::format("loss/{}/l{}", name, layer);
}

}  // namespace

std::vector<Batch> next_step_batches(const TrainingParts& p) {
  std::vector<Batch> batches;
  if (const int groups = p.sync.parts_per_batch(); groups > 0) {
    // Local group m is rows m, m + L, ...: global rows j, j + G, ... for group j = rank + m N
    // (the loader deals global rows round-robin), the same rows whatever the world size.
    const Batch all = p.loader.next();
    for (int m : p.sync.part_order()) batches.push_back(select_rows(all, m, groups));
  } else {
    for (int m = 0; m < p.recipe.train().micro_batches(); ++m) batches.push_back(p.loader.next());
  }
  return batches;
}

int64_t global_target_tokens(const TrainingParts& p, const std::vector<Batch>& batches) {
  int64_t local = 0;
  for (const Batch& b : batches) local += b.target_tokens;
  return static_cast<int64_t>(sum_over_ranks(p.comm, static_cast<double>(local)));
}

StepResult update_on(const TrainingParts& p, const std::vector<Batch>& batches, int64_t step,
                     double lr, AttentionDiagnostics* diagnostics) {
  GradientSync& sync = p.sync;
  // Each part's loss is weighted by its share of the *global* tokens, so the sum of the ranks'
  // gradients is the gradient of the global mean loss, however the batch is split.
  StepResult r;
  r.tokens = global_target_tokens(p, batches);
  // Every rank logs the same keys (a rank whose part has no targets adds nothing to them).
  for (const AttentionLoss* loss : p.model.attention_losses())
    for (int l = 0; l < p.model.config().layers; ++l)
      if (loss->selects(l)) r.attention_losses[loss_key(loss->name(), l)] = 0.0;
  p.store.zero_grad();
  std::vector<double> part_loss(batches.size(), 0.0);
  const int parts = static_cast<int>(batches.size());
  for (int k = 0; k < parts; ++k) {
    const Batch& b = batches[k];
    sync.begin_part(k);
    if (b.target_tokens > 0) {
      sync.before_backward(k, parts);
      const double w = static_cast<double>(b.target_tokens) / static_cast<double>(r.tokens);
      GptForward f;
      f.training = true;
      if (k == 0) f.diagnostics = diagnostics;
      double aux = 0;
      f.aux_loss = &aux;
      std::vector<AttentionLossTerm> terms;
      f.attention_loss_terms = &terms;
      Tensor l = p.model.loss(gpt_input(b, p.store.device()), f);
      for (const AttentionLossTerm& t : terms)
        r.attention_losses.at(loss_key(t.name, t.layer)) += w * t.value.item();
      // Logged apart, so `loss` stays the cross-entropy every attention kind is compared on.
      part_loss[k] = w * (l.item() - aux);
      r.aux_loss += w * aux;
      backward(scale(l, w));
    }
    sync.end_part(k);
  }
  r.aux_loss = sum_over_ranks(p.comm, r.aux_loss);
  for (auto& [key, value] : r.attention_losses) value = sum_over_ranks(p.comm, value);
  sync.finish();
  r.loss = sync.sum_losses(part_loss);
  // Both values are reduced over ranks, so every rank stops at the same step, before the
  // optimizer touches the weights: the newest checkpoint stays the last good state.
  auto refuse_non_finite = [&](const char* what, double value) {
    if (std::isfinite(value)) return;
    const std::string last = latest_complete_checkpoint(p.checkpoints_dir);
    throw Error(ErrorKind::kNumeric, fmt::format("step {}", step + 1),
                fmt::format("{} is {} (lr {:.3g}); lower optim.lr or set optim.grad_clip. Last "
                            "good checkpoint: {}",
                            what, value, lr, last.empty() ? "none yet" : last));
  };
  refuse_non_finite("training loss", r.loss);
  r.grad_norm = sync.clip_grad_norm(p.recipe.optim().grad_clip());
  refuse_non_finite("gradient norm", r.grad_norm);
  p.optimizer.step();
  sync.after_step();
  return r;
}

}  // namespace attn
