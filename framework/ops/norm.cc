#include "framework/ops/norm.h"

#include <vector>

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/norm.h"
#include "framework/kernels/cuda/norm.h"
#include "framework/ops/dispatch.h"
#include "framework/ops/elementwise.h"

namespace attn {

namespace {

// f32 on CUDA, f32/f64 on CPU; the backward runs where the tensors live. With a residual the
// input is the sum x + residual, made by the kernel and returned next to the normed sum.
AddNormResult norm(NormKind kind, const Tensor& x, const Tensor& residual, const Tensor& w,
                   const Tensor& b, double eps) {
  const char* name = kind == NormKind::kLayerNorm ? "layer_norm" : "rms_norm";
  detail::check_same_device(name, {x, residual, w, b});
  detail::check_same_dtype(name, {x, residual, w, b});
  const bool on_gpu = x.device().is_cuda();
  ATTN_CHECK(!on_gpu || x.dtype() == DType::kF32, "{}: CUDA norms are f32 only, got {}", name,
             x.str());
  ATTN_CHECK(x.ndim() >= 1 && w.ndim() == 1 && w.size(0) == x.size(-1),
             "{}: weight {} for input {}", name, w.str(), x.str());
  ATTN_CHECK(!b.defined() || b.shape() == w.shape(), "{}: bias {} for weight {}", name, b.str(),
             w.str());
  ATTN_CHECK(!residual.defined() || residual.shape() == x.shape(), "{}: residual {} for input {}",
             name, residual.str(), x.str());
  ATTN_CHECK(eps > 0, "{}: eps must be positive, got {}", name, eps);
  const int64_t cols = x.size(-1), rows = x.numel() / std::max<int64_t>(cols, 1);
  const Tensor s = residual.defined() ? Tensor::empty(x.shape(), x.dtype(), x.device()) : x;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean =
      kind == NormKind::kLayerNorm ? Tensor::empty({rows}, x.dtype(), x.device()) : Tensor();
  Tensor rstd = Tensor::empty({rows}, x.dtype(), x.device());
  if (on_gpu) {
    cuda::norm_forward(kind, y.data<float>(), data_or_null<float>(mean), rstd.data<float>(),
                       x.data<float>(), w.data<float>(), data_or_null<float>(b), rows, cols,
                       static_cast<float>(eps), data_or_null<float>(residual),
                       residual.defined() ? s.data<float>() : nullptr);
  } else {
    detail::dispatch_float(x, name, [&](auto tag) {
      using T = decltype(tag);
      cpu::norm_forward<T>(kind, y.data<T>(), data_or_null<T>(mean), rstd.data<T>(), x.data<T>(),
                           w.data<T>(), data_or_null<T>(b), rows, cols, T(eps),
                           data_or_null<T>(residual), residual.defined() ? s.data<T>() : nullptr);
    });
  }
  if (!needs_grad({x, residual, w, b})) return {s, y};
  // The fused form has two outputs; its backward runs after every consumer of both, so the
  // sum's gradient is complete: the norm's dx adds into it (as the unfused add's consumer would)
  // and it then flows to x and the residual.
  const std::vector<Tensor> outputs =
      residual.defined() ? std::vector<Tensor>{s, y} : std::vector<Tensor>{y};
  record(name, outputs, [kind, x, residual, s, w, b, y, mean, rstd, rows, cols, name, on_gpu] {
    const bool fused = residual.defined();
    const Tensor dx = fused ? s.grad_or_zeros() : grad_target(x);
    const Tensor dw = grad_target(w), db = b.defined() ? grad_target(b) : Tensor();
    if (y.has_grad() && on_gpu) {
      cuda::norm_backward(kind, data_or_null<float>(dx), data_or_null<float>(dw),
                          data_or_null<float>(db), y.grad().data<float>(), s.data<float>(),
                          w.data<float>(), data_or_null<float>(mean), rstd.data<float>(), rows,
                          cols);
    } else if (y.has_grad()) {
      detail::dispatch_float(x, name, [&](auto tag) {
        using T = decltype(tag);
        cpu::norm_backward<T>(kind, data_or_null<T>(dx), data_or_null<T>(dw), data_or_null<T>(db),
                              y.grad().data<T>(), s.data<T>(), w.data<T>(), data_or_null<T>(mean),
                              rstd.data<T>(), rows, cols);
      });
    }
    if (!fused) return;
    for (const Tensor& in : {x, residual})
      if (in.requires_grad()) detail::axpy_into(in.grad_or_zeros(), 1.0, dx);
  });
  return {s, y};
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return norm(NormKind::kLayerNorm, x, Tensor(), weight, bias, eps).normed;
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  return norm(NormKind::kRmsNorm, x, Tensor(), weight, Tensor(), eps).normed;
}

AddNormResult add_layer_norm(const Tensor& x, const Tensor& residual, const Tensor& weight,
                             const Tensor& bias, double eps) {
  ATTN_CHECK(residual.defined(), "add_layer_norm: needs a residual");
  return norm(NormKind::kLayerNorm, x, residual, weight, bias, eps);
}

AddNormResult add_rms_norm(const Tensor& x, const Tensor& residual, const Tensor& weight,
                           double eps) {
  ATTN_CHECK(residual.defined(), "add_rms_norm: needs a residual");
  return norm(NormKind::kRmsNorm, x, residual, weight, Tensor(), eps);
}

}  // namespace attn
