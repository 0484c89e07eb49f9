#include "optim/sgd.h"

#include "framework/core/threads.h"
#include "framework/kernels/cuda/optimizer_step.h"
#include "framework/ops/dispatch.h"

namespace attn {

Sgd::Sgd(ParamStore& store, SgdOptions options, FlatRange range)
    : Optimizer(store, range), options_(options) {
  if (options.momentum != 0.0)
    velocity_ = Tensor::zeros({range_.size()}, store.dtype(), store.device());
  decay_mask_ = weight_decay_mask(store, options.decay).slice0(range_.begin, range_.end).clone();
}

void Sgd::step() {
  if (store_.device().is_cuda()) {
    ATTN_CHECK(store_.dtype() == DType::kF32, "sgd on CUDA: f32 parameters only");
    cuda::sgd_step(float(options_.lr), float(options_.momentum), float(options_.weight_decay),
                   store_.flat_params().data<float>() + range_.begin,
                   store_.flat_grads().data<float>() + range_.begin,
                   velocity_.defined() ? velocity_.data<float>() : nullptr,
                   decay_mask_.data<float>(), range_.size());
    return;
  }
  detail::dispatch_float(store_.flat_params(), "sgd", [&](auto tag) {
    using T = decltype(tag);
    T* p = store_.flat_params().data<T>() + range_.begin;
    const T* g = store_.flat_grads().data<T>() + range_.begin;
    const T* mask = decay_mask_.data<T>();
    T* v = velocity_.defined() ? velocity_.data<T>() : nullptr;
    const T lr = T(options_.lr), mu = T(options_.momentum), wd = T(options_.weight_decay);
    parallel_chunks(range_.size(), 1 << 15, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T d = g[i];
        if (v) d = v[i] = mu * v[i] + d;
        p[i] -= lr * (d + wd * mask[i] * p[i]);
      }
    });
  });
}

NamedTensors Sgd::flat_state() const {
  if (!velocity_.defined()) return {};
  return {{"momentum", velocity_}};
}

}  // namespace attn
