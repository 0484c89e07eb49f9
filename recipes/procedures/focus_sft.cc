#include "recipes/procedures/focus_sft.h"

#include <algorithm>
#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/elementwise.h"
#include "framework/rng/philox.h"
#include "optim/grad_clip.h"
#include "optim/sgd.h"
#include "recipes/procedures/lm_step.h"

namespace attn {

namespace {

namespace cfg = attnlab::config;

// Keeps the fast weights' random stream apart from every other use of train.seed.
constexpr uint64_t kFastWeightsKey = 0xF0C5F7;

}  // namespace

int64_t focus_first_layer(int64_t layers, double top_fraction) {
  // The small epsilon keeps (1 - 0.35) * 20 = 13 from flooring to 12 through rounding.
  const auto first =
      static_cast<int64_t>(std::floor((1.0 - top_fraction) * static_cast<double>(layers) + 1e-9));
  return std::clamp<int64_t>(first, 0, layers - 1);
}

MlpAdapters focus_sft_adapters(const config::Recipe& recipe, ParamStore& fast) {
  if (recipe.procedure().kind() != cfg::Procedure::FOCUS_SFT) return {};
  const cfg::FocusSft& f = recipe.procedure().focus_sft();
  return {{&fast, f.lora_rank(), f.lora_alpha()},
          focus_first_layer(recipe.model().layers(), f.top_fraction())};
}

void reset_fast_weights(const TrainingParts& p, int64_t step) {
  ATTN_CHECK(p.fast_weights && p.fast_weights->finalized(),
             "FocuSFT needs the model's fast weights (finalized)");
  p.fast_weights->initialize(
      rng_stream(p.recipe.train().seed(), static_cast<uint64_t>(step), kFastWeightsKey));
}

std::unique_ptr<Optimizer> make_inner_sgd(const config::Recipe& recipe, ParamStore& fast) {
  return std::make_unique<Sgd>(fast, SgdOptions{.lr = recipe.procedure().focus_sft().inner_lr()});
}

std::vector<double> adapt_fast_weights(const TrainingParts& p, const std::vector<Batch>& batches,
                                       Optimizer& sgd) {
  ATTN_CHECK(p.fast_weights && p.fast_weights->finalized(),
             "FocuSFT needs the model's fast weights (finalized)");
  ParamStore& fast = *p.fast_weights;
  const cfg::FocusSft& o = p.recipe.procedure().focus_sft();
  std::vector<double> losses;
  const int64_t tokens = global_target_tokens(p, batches);
  if (tokens == 0) return losses;
  ATTN_CHECK(&sgd.store() == &fast, "the inner optimizer must update the fast weights");
  // Only the fast weights require a gradient, so the layers below them record no tape at all.
  ParamGradsOff base_off(p.store);
  BackwardObserverPause pause;  // the step's gradient reduction belongs to the outer backward
  for (int s = 0; s < o.inner_steps(); ++s) {
    fast.zero_grad();
    double local = 0;
    for (const Batch& b : batches) {
      if (b.target_tokens == 0) continue;
      // An evaluation-mode forward: the same response cross-entropy, no auxiliary losses, no
      // update of the layers' buffers (moving averages move once per step, in the outer one).
      const Tensor l = scale(p.model.loss(gpt_input(b, fast.device())),
                             static_cast<double>(b.target_tokens) / static_cast<double>(tokens));
      local += l.item();
      backward(l);
    }
    losses.push_back(sum_over_ranks(p.comm, local));
    if (p.comm.world_size() > 1) {
      Tensor g = fast.flat_grads();
      p.buffers.all_reduce_sum(g);
    }
    for (const ParamInfo& t : fast.params()) {
      const FlatRange range{t.offset, t.offset + t.tensor.numel()};
      clip_grads_to(fast, range, std::sqrt(grad_sum_squares(fast, range)), o.inner_clip());
    }
    sgd.step();
  }
  return losses;
}

FocusSft::FocusSft(const TrainingParts& parts) : p_(parts) {
  ATTN_CHECK(p_.fast_weights && p_.fast_weights->finalized() && !p_.fast_weights->params().empty(),
             "FocuSFT: the model was built without its fast weights");
  inner_ = make_inner_sgd(p_.recipe, *p_.fast_weights);
}

StepResult FocusSft::step(int64_t step, double lr, AttentionDiagnostics* diagnostics) {
  const std::vector<Batch> batches = next_step_batches(p_);
  reset_fast_weights(p_, step);
  const std::vector<double> inner = adapt_fast_weights(p_, batches, *inner_);
  StepResult r;
  {
    // First-order: the outer gradient is the base weights' alone.
    ParamGradsOff fast_off(*p_.fast_weights);
    r = update_on(p_, batches, step, lr, diagnostics);
  }
  // Discarded: zero adapters make every later forward (evaluation, sampling, a checkpoint's
  // consumers) the base model's, to the bit.
  p_.fast_weights->flat_params().zero_();
  // The loss before adaptation: how much the fast weights bought shows against `loss`.
  if (!inner.empty()) r.metrics["focus/base_loss"] = inner.front();
  return r;
}

}  // namespace attn
