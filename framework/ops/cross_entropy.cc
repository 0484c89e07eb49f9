#include "framework/ops/cross_entropy.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/cross_entropy.h"
#include "framework/kernels/cpu/reduce.h"
#include "framework/ops/dispatch.h"

namespace attn {

Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     const CrossEntropyOptions& options) {
  const Tensor& weights = options.weights;
  detail::check_cpu("cross_entropy", {logits, targets, weights});
  ATTN_CHECK(logits.ndim() >= 1, "cross_entropy: logits {}", logits.str());
  const int64_t v = logits.size(-1), n = logits.numel() / std::max<int64_t>(v, 1);
  ATTN_CHECK(targets.numel() == n, "cross_entropy: {} targets for logits {}", targets.numel(),
             logits.str());
  ATTN_CHECK(!weights.defined() || (weights.numel() == n && weights.dtype() == logits.dtype()),
             "cross_entropy: weights {} for logits {}", weights.str(), logits.str());
  // Validate targets and total the weight of the counted rows (fixed order: deterministic).
  double total_weight = 0;
  detail::dispatch_index(targets, "cross_entropy", [&](auto itag) {
    using I = decltype(itag);
    const I* t = targets.data<I>();
    std::vector<double> w = weights.defined() ? weights.to_vector<double>() : std::vector<double>();
    for (int64_t i = 0; i < n; ++i) {
      if (t[i] == static_cast<I>(options.ignore_index)) continue;
      if (t[i] < 0 || t[i] >= v)
        ATTN_FAIL(kInput, "cross_entropy: target {} at position {} is outside [0, {})",
                  static_cast<int64_t>(t[i]), i, v);
      total_weight += w.empty() ? 1.0 : w[i];
    }
  });
  const bool is_mean = options.reduction == CrossEntropyOptions::Reduction::kMean;
  const double scale = !is_mean ? 1.0 : (total_weight != 0 ? 1.0 / total_weight : 0.0);
  Tensor loss = Tensor::empty({}, logits.dtype(), logits.device());
  Tensor lse = Tensor::empty({n}, logits.dtype());
  detail::dispatch_float(logits, "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    detail::dispatch_index(targets, "cross_entropy", [&](auto itag) {
      using I = decltype(itag);
      Tensor row_loss = Tensor::empty({n}, logits.dtype());
      const T* w = weights.defined() ? weights.data<T>() : nullptr;
      cpu::cross_entropy_forward<T, I>(row_loss.data<T>(), lse.data<T>(), logits.data<T>(),
                                       targets.data<I>(), w, n, v,
                                       static_cast<I>(options.ignore_index));
      cpu::sum_axis<T>(loss.data<T>(), row_loss.data<T>(), 1, n, 1, T(scale), false);
    });
  });
  if (!needs_grad({logits})) return loss;
  int64_t ignore = options.ignore_index;
  record("cross_entropy", {loss}, [logits, targets, weights, loss, lse, n, v, ignore, scale] {
    detail::dispatch_float(logits, "cross_entropy", [&](auto tag) {
      using T = decltype(tag);
      detail::dispatch_index(targets, "cross_entropy", [&](auto itag) {
        using I = decltype(itag);
        T dloss = loss.grad().data<T>()[0];
        cpu::cross_entropy_backward<T, I>(logits.grad_or_zeros().data<T>(), logits.data<T>(),
                                          lse.data<T>(), targets.data<I>(),
                                          weights.defined() ? weights.data<T>() : nullptr, n, v,
                                          static_cast<I>(ignore), T(scale) * dloss);
      });
    });
  });
  return loss;
}

}  // namespace attn
