#include "optim/adamw.h"

#include <cmath>

#include "framework/core/threads.h"
#include "framework/ops/dispatch.h"

namespace attn {

AdamW::AdamW(ParamStore& store, AdamWOptions options) : store_(store), options_(options) {
  ATTN_CHECK(store.finalized(), "AdamW needs a finalized ParamStore");
  ATTN_CHECK(store.device().is_cpu(), "AdamW: CUDA optimizer step not built yet");
  m_ = store.new_state_buffer();
  v_ = store.new_state_buffer();
  decay_mask_ = weight_decay_mask(store, options.decay);
}

void AdamW::step() {
  ++t_;
  // Bias corrections in double: for long runs b^t underflows float precision long before t ends.
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(t_));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(options_.beta2, static_cast<double>(t_)));
  detail::dispatch_float(store_.flat_params(), "adamw", [&](auto tag) {
    using T = decltype(tag);
    T* p = store_.flat_params().data<T>();
    const T* g = store_.flat_grads().data<T>();
    T* m = m_.data<T>();
    T* v = v_.data<T>();
    const T* mask = decay_mask_.data<T>();
    const T b1 = T(options_.beta1), b2 = T(options_.beta2);
    const T eps = T(options_.eps), decay = T(options_.lr * options_.weight_decay);
    const T step_size = T(options_.lr / bc1), inv_bc2_sqrt = T(1.0 / bc2_sqrt);
    parallel_chunks(store_.padded_size(), 1 << 14, [&](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) {
        p[i] -= decay * mask[i] * p[i];
        m[i] = b1 * m[i] + (T(1) - b1) * g[i];
        v[i] = b2 * v[i] + (T(1) - b2) * g[i] * g[i];
        p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_bc2_sqrt + eps);
      }
    });
  });
}

std::vector<std::pair<std::string, Tensor>> AdamW::state() const {
  auto out = per_param_views(store_, m_, "exp_avg");
  auto sq = per_param_views(store_, v_, "exp_avg_sq");
  out.insert(out.end(), sq.begin(), sq.end());
  out.emplace_back("step", Tensor::from_vector<double>({}, {static_cast<double>(t_)}));
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  const Tensor* step = nullptr;
  for (const auto& [name, t] : state)
    if (name == "step" && t.numel() == 1) step = &t;
  if (!step) ATTN_FAIL(kInput, "optimizer state has no scalar 'step' entry");
  // Check everything before copying anything: a bad checkpoint leaves the optimizer unchanged.
  check_per_param_views(store_, "exp_avg", state);
  check_per_param_views(store_, "exp_avg_sq", state);
  load_per_param_views(store_, m_, "exp_avg", state);
  load_per_param_views(store_, v_, "exp_avg_sq", state);
  t_ = static_cast<int64_t>(step->to(DType::kF64).item());
}

}  // namespace attn
