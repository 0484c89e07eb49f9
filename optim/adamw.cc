#include "optim/adamw.h"

#include <cmath>

#include "framework/core/threads.h"
#include "framework/kernels/cuda/optimizer_step.h"
#include "framework/ops/dispatch.h"

namespace attn {

AdamW::AdamW(ParamStore& store, AdamWOptions options, FlatRange range)
    : Optimizer(store, range), options_(options) {
  m_ = Tensor::zeros({range_.size()}, store.dtype(), store.device());
  v_ = Tensor::zeros({range_.size()}, store.dtype(), store.device());
  decay_mask_ = weight_decay_mask(store, options.decay).slice0(range_.begin, range_.end).clone();
}

void AdamW::step() {
  ++t_;
  // Bias corrections in double: for long runs b^t underflows float precision long before t ends.
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(t_));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(options_.beta2, static_cast<double>(t_)));
  if (store_.device().is_cuda()) {
    ATTN_CHECK(store_.dtype() == DType::kF32, "adamw on CUDA: f32 parameters only");
    cuda::AdamWStep s;
    s.beta1 = float(options_.beta1), s.beta2 = float(options_.beta2), s.eps = float(options_.eps);
    s.decay = float(options_.lr * options_.weight_decay);
    s.step_size = float(options_.lr / bc1), s.inv_bc2_sqrt = float(1.0 / bc2_sqrt);
    cuda::adamw_step(s, store_.flat_params().data<float>() + range_.begin,
                     store_.flat_grads().data<float>() + range_.begin, m_.data<float>(),
                     v_.data<float>(), decay_mask_.data<float>(), range_.size());
    return;
  }
  detail::dispatch_float(store_.flat_params(), "adamw", [&](auto tag) {
    using T = decltype(tag);
    T* p = store_.flat_params().data<T>() + range_.begin;
    const T* g = store_.flat_grads().data<T>() + range_.begin;
    T* m = m_.data<T>();
    T* v = v_.data<T>();
    const T* mask = decay_mask_.data<T>();
    const T b1 = T(options_.beta1), b2 = T(options_.beta2);
    const T eps = T(options_.eps), decay = T(options_.lr * options_.weight_decay);
    const T step_size = T(options_.lr / bc1), inv_bc2_sqrt = T(1.0 / bc2_sqrt);
    parallel_chunks(range_.size(), 1 << 14, [&](int64_t b, int64_t e) {
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

void AdamW::load_scalar_state(const NamedScalars& s) {
  for (const auto& [name, value] : s)
    if (name == "step") t_ = static_cast<int64_t>(value);
}

}  // namespace attn
