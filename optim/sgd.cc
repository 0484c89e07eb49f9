#include "optim/sgd.h"

#include "framework/core/threads.h"
#include "framework/ops/dispatch.h"

namespace attn {

Sgd::Sgd(ParamStore& store, SgdOptions options) : store_(store), options_(options) {
  ATTN_CHECK(store.finalized(), "Sgd needs a finalized ParamStore");
  ATTN_CHECK(store.device().is_cpu(), "Sgd: CUDA optimizer step not built yet");
  if (options.momentum != 0.0) velocity_ = store.new_state_buffer();
  decay_mask_ = weight_decay_mask(store, options.decay);
}

void Sgd::step() {
  detail::dispatch_float(store_.flat_params(), "sgd", [&](auto tag) {
    using T = decltype(tag);
    T* p = store_.flat_params().data<T>();
    const T* g = store_.flat_grads().data<T>();
    const T* mask = decay_mask_.data<T>();
    T* v = velocity_.defined() ? velocity_.data<T>() : nullptr;
    const T lr = T(options_.lr), mu = T(options_.momentum), wd = T(options_.weight_decay);
    parallel_chunks(store_.padded_size(), 1 << 15, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T d = g[i];
        if (v) d = v[i] = mu * v[i] + d;
        p[i] -= lr * (d + wd * mask[i] * p[i]);
      }
    });
  });
}

std::vector<std::pair<std::string, Tensor>> Sgd::state() const {
  if (!velocity_.defined()) return {};
  return per_param_views(store_, velocity_, "momentum");
}

void Sgd::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  if (velocity_.defined()) load_per_param_views(store_, velocity_, "momentum", state);
}

}  // namespace attn
