#include "framework/ops/cross_entropy.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/cross_entropy.h"
#include "framework/kernels/cpu/reduce.h"
#include "framework/kernels/cuda/cross_entropy.h"
#include "framework/ops/dispatch.h"

namespace attn {

// f32 on CUDA, f32/f64 on CPU. Targets and weights live on the logits' device. On CUDA the
// targets and weights are copied to the host once per call to validate the targets and total
// the weights (a synchronisation); the kernels and the backward stay on the device.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     const CrossEntropyOptions& options) {
  const Tensor& weights = options.weights;
  detail::check_same_device("cross_entropy", {logits, targets, weights});
  ATTN_CHECK(logits.ndim() >= 1, "cross_entropy: logits {}", logits.str());
  const bool on_gpu = logits.device().is_cuda();
  ATTN_CHECK(!on_gpu || logits.dtype() == DType::kF32,
             "cross_entropy: CUDA cross-entropy is f32 only, got {}", logits.str());
  const int64_t v = logits.size(-1), n = logits.numel() / std::max<int64_t>(v, 1);
  ATTN_CHECK(targets.numel() == n, "cross_entropy: {} targets for logits {}", targets.numel(),
             logits.str());
  ATTN_CHECK(!weights.defined() || (weights.numel() == n && weights.dtype() == logits.dtype()),
             "cross_entropy: weights {} for logits {}", weights.str(), logits.str());
  // Validate targets and total the weight of the counted rows (fixed order: deterministic).
  double total_weight = 0;
  const Tensor host_targets = targets.to(Device::cpu());
  detail::dispatch_index(targets, "cross_entropy", [&](auto itag) {
    using I = decltype(itag);
    const I* t = host_targets.data<I>();
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
  Tensor lse = Tensor::empty({n}, logits.dtype(), logits.device());
  if (on_gpu) {
    Tensor row_loss = Tensor::empty({n}, DType::kF32, logits.device());
    const float* w = weights.defined() ? weights.data<float>() : nullptr;
    detail::dispatch_index(targets, "cross_entropy", [&](auto itag) {
      using I = decltype(itag);
      cuda::cross_entropy_forward<I>(row_loss.data<float>(), lse.data<float>(),
                                     logits.data<float>(), targets.data<I>(), w, n, v,
                                     static_cast<I>(options.ignore_index));
    });
    cuda::cross_entropy_reduce(loss.data<float>(), row_loss.data<float>(), n,
                               static_cast<float>(scale));
  } else {
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
  }
  if (!needs_grad({logits})) return loss;
  int64_t ignore = options.ignore_index;
  auto backward = [logits, targets, weights, loss, lse, n, v, ignore, scale, on_gpu] {
    if (on_gpu) {
      detail::dispatch_index(targets, "cross_entropy", [&](auto itag) {
        using I = decltype(itag);
        cuda::cross_entropy_backward<I>(
            logits.grad_or_zeros().data<float>(), logits.data<float>(), lse.data<float>(),
            targets.data<I>(), weights.defined() ? weights.data<float>() : nullptr, n, v,
            static_cast<I>(ignore), static_cast<float>(scale), loss.grad().data<float>());
      });
      return;
    }
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
  };
  record("cross_entropy", {loss}, std::move(backward));
  return loss;
}

}  // namespace attn
