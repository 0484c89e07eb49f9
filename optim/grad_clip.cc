#include "optim/grad_clip.h"

#include <cmath>
#include <vector>

#include "framework/core/threads.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {
constexpr int64_t kGrain = 1 << 15;
}  // namespace

double grad_norm(const ParamStore& store) {
  const Tensor g = store.flat_grads();
  const int64_t n = g.numel();
  std::vector<double> partial((n + kGrain - 1) / kGrain, 0.0);
  detail::dispatch_float(g, "grad_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* x = g.data<T>();
    parallel_chunks(n, kGrain, [&](int64_t b, int64_t e) {
      double s = 0;
      for (int64_t i = b; i < e; ++i) s += static_cast<double>(x[i]) * x[i];
      partial[b / kGrain] = s;
    });
  });
  double total = 0;
  for (double s : partial) total += s;
  return std::sqrt(total);
}

double clip_grad_norm(ParamStore& store, double max_norm) {
  const double norm = grad_norm(store);
  if (max_norm <= 0 || !std::isfinite(norm)) return norm;
  const double coef = max_norm / (norm + 1e-6);
  if (coef >= 1.0) return norm;
  Tensor g = store.flat_grads();
  detail::dispatch_float(g, "clip_grad_norm", [&](auto tag) {
    using T = decltype(tag);
    T* x = g.data<T>();
    const T c = static_cast<T>(coef);
    parallel_chunks(g.numel(), kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) x[i] *= c;
    });
  });
  return norm;
}

}  // namespace attn
