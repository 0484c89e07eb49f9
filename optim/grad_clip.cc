#include "optim/grad_clip.h"

#include <cmath>
#include <vector>

#include "framework/core/threads.h"
#include "framework/kernels/cuda/elementwise.h"
#include "framework/kernels/cuda/optimizer_step.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {
constexpr int64_t kGrain = 1 << 15;
}  // namespace

double grad_sum_squares(const ParamStore& store, FlatRange range) {
  range = resolve_range(store, range);
  const Tensor g = store.flat_grads();
  const int64_t n = range.size();
  if (g.device().is_cuda()) {
    ATTN_CHECK(g.dtype() == DType::kF32, "grad_norm on CUDA: f32 gradients only");
    return cuda::sum_squares(g.data<float>() + range.begin, n);
  }
  std::vector<double> partial((n + kGrain - 1) / kGrain, 0.0);
  detail::dispatch_float(g, "grad_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* x = g.data<T>() + range.begin;
    parallel_chunks(n, kGrain, [&](int64_t b, int64_t e) {
      double s = 0;
      for (int64_t i = b; i < e; ++i) s += static_cast<double>(x[i]) * x[i];
      partial[b / kGrain] = s;
    });
  });
  double total = 0;
  for (double s : partial) total += s;
  return total;
}

void clip_grads_to(ParamStore& store, FlatRange range, double norm, double max_norm) {
  if (max_norm <= 0 || !std::isfinite(norm)) return;
  const double coef = max_norm / (norm + 1e-6);
  if (coef >= 1.0) return;
  range = resolve_range(store, range);
  Tensor g = store.flat_grads();
  if (g.device().is_cuda()) {
    float* x = g.data<float>() + range.begin;
    cuda::scale(x, x, static_cast<float>(coef), range.size());
    return;
  }
  detail::dispatch_float(g, "clip_grad_norm", [&](auto tag) {
    using T = decltype(tag);
    T* x = g.data<T>() + range.begin;
    const T c = static_cast<T>(coef);
    parallel_chunks(range.size(), kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) x[i] *= c;
    });
  });
}

double grad_norm(const ParamStore& store) {
  return std::sqrt(grad_sum_squares(store, {}));
}

double clip_grad_norm(ParamStore& store, double max_norm) {
  const double norm = grad_norm(store);
  clip_grads_to(store, {}, norm, max_norm);
  return norm;
}

}  // namespace attn
