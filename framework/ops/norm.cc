#include "framework/ops/norm.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/norm.h"
#include "framework/kernels/cuda/norm.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {

template <typename T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// f32 on CUDA, f32/f64 on CPU; the backward runs where the tensors live.
Tensor norm(NormKind kind, const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  const char* name = kind == NormKind::kLayerNorm ? "layer_norm" : "rms_norm";
  detail::check_same_device(name, {x, w, b});
  detail::check_same_dtype(name, {x, w, b});
  const bool on_gpu = x.device().is_cuda();
  ATTN_CHECK(!on_gpu || x.dtype() == DType::kF32, "{}: CUDA norms are f32 only, got {}", name,
             x.str());
  ATTN_CHECK(x.ndim() >= 1 && w.ndim() == 1 && w.size(0) == x.size(-1),
             "{}: weight {} for input {}", name, w.str(), x.str());
  ATTN_CHECK(!b.defined() || b.shape() == w.shape(), "{}: bias {} for weight {}", name, b.str(),
             w.str());
  ATTN_CHECK(eps > 0, "{}: eps must be positive, got {}", name, eps);
  const int64_t cols = x.size(-1), rows = x.numel() / std::max<int64_t>(cols, 1);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean =
      kind == NormKind::kLayerNorm ? Tensor::empty({rows}, x.dtype(), x.device()) : Tensor();
  Tensor rstd = Tensor::empty({rows}, x.dtype(), x.device());
  if (on_gpu) {
    cuda::norm_forward(kind, y.data<float>(), data_or_null<float>(mean), rstd.data<float>(),
                       x.data<float>(), w.data<float>(), data_or_null<float>(b), rows, cols,
                       static_cast<float>(eps));
  } else {
    detail::dispatch_float(x, name, [&](auto tag) {
      using T = decltype(tag);
      cpu::norm_forward<T>(kind, y.data<T>(), data_or_null<T>(mean), rstd.data<T>(), x.data<T>(),
                           w.data<T>(), data_or_null<T>(b), rows, cols, T(eps));
    });
  }
  if (!needs_grad({x, w, b})) return y;
  record(name, {y}, [kind, x, w, b, y, mean, rstd, rows, cols, name, on_gpu] {
    if (on_gpu) {
      Tensor dx = grad_target(x), dw = grad_target(w), db = b.defined() ? grad_target(b) : Tensor();
      cuda::norm_backward(kind, data_or_null<float>(dx), data_or_null<float>(dw),
                          data_or_null<float>(db), y.grad().data<float>(), x.data<float>(),
                          w.data<float>(), data_or_null<float>(mean), rstd.data<float>(), rows,
                          cols);
      return;
    }
    detail::dispatch_float(x, name, [&](auto tag) {
      using T = decltype(tag);
      Tensor dx = grad_target(x), dw = grad_target(w), db = b.defined() ? grad_target(b) : Tensor();
      cpu::norm_backward<T>(kind, data_or_null<T>(dx), data_or_null<T>(dw), data_or_null<T>(db),
                            y.grad().data<T>(), x.data<T>(), w.data<T>(), data_or_null<T>(mean),
                            rstd.data<T>(), rows, cols);
    });
  });
  return y;
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return norm(NormKind::kLayerNorm, x, weight, bias, eps);
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  return norm(NormKind::kRmsNorm, x, weight, Tensor(), eps);
}

}  // namespace attn
