#include "layers/attention/ops/affine_combine.h"

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/dispatch.h"
#include "layers/attention/kernels/affine_combine.h"
#include "layers/packed_sequences.h"

namespace attn {

AffineCombined affine_combine(const Tensor& o, const Tensor& v, const Tensor& z,
                              const Tensor& alpha_ma, const Tensor& cu_seqlens, bool sigmoid_clip) {
  ATTN_CHECK(o.ndim() == 3 && v.ndim() == 3 && v.size(0) == o.size(0) && v.size(2) == o.size(2) &&
                 v.size(1) > 0 && o.size(1) % v.size(1) == 0 &&
                 z.numel() == o.size(0) * o.size(1) && alpha_ma.numel() == o.size(1),
             "affine_combine: o {}, v {}, z {}, alpha_ma {}", o.str(), v.str(), z.str(),
             alpha_ma.str());
  for (const Tensor* t : {&v, &z, &alpha_ma})
    ATTN_CHECK(t->dtype() == o.dtype() && t->device() == o.device(),
               "affine_combine: {} beside o {}", t->str(), o.str());
  const bool on_gpu = o.device().is_cuda();
  ATTN_CHECK(!on_gpu || o.dtype() == DType::kF32, "affine_combine: CUDA is f32 only, got {}",
             o.str());
  const DocumentBounds docs = document_bounds(cu_seqlens, o.size(0), o.device(), "affine_combine");
  const Tensor cu = docs.on_device;
  AffineCombineShape s;
  s.tokens = o.size(0), s.heads = o.size(1), s.kv_heads = v.size(1), s.dv = o.size(2);
  s.cu = cu.data<int32_t>(), s.docs = docs.docs();
  s.sigmoid = sigmoid_clip;

  Tensor vbar = Tensor::empty(v.shape(), v.dtype(), v.device());
  AffineCombined r{Tensor::empty(o.shape(), o.dtype(), o.device()),
                   Tensor::empty({s.tokens, s.heads}, o.dtype(), o.device())};
  if (on_gpu) {
    cuda::affine_combine_forward(s, o.data<float>(), v.data<float>(), z.data<float>(),
                                 alpha_ma.data<float>(), vbar.data<float>(), r.alpha.data<float>(),
                                 r.y.data<float>());
  } else {
    detail::dispatch_float(o, "affine_combine", [&](auto tag) {
      using T = decltype(tag);
      cpu::affine_combine_forward<T>(s, o.data<T>(), v.data<T>(), z.data<T>(), alpha_ma.data<T>(),
                                     vbar.data<T>(), r.alpha.data<T>(), r.y.data<T>());
    });
  }
  if (!needs_grad({o, v, z})) return r;
  const Tensor y = r.y, alpha = r.alpha;
  record("affine_combine", {y}, [o, v, z, alpha_ma, cu, s, vbar, alpha, y, on_gpu] {
    const Tensor dO = grad_target(o), dV = grad_target(v), dZ = grad_target(z);
    if (on_gpu) {
      cuda::affine_combine_backward(s, y.grad().data<float>(), o.data<float>(), z.data<float>(),
                                    alpha_ma.data<float>(), vbar.data<float>(), alpha.data<float>(),
                                    data_or_null<float>(dO), data_or_null<float>(dZ),
                                    data_or_null<float>(dV));
      return;
    }
    detail::dispatch_float(o, "affine_combine", [&](auto tag) {
      using T = decltype(tag);
      cpu::affine_combine_backward<T>(
          s, y.grad().data<T>(), o.data<T>(), z.data<T>(), alpha_ma.data<T>(), vbar.data<T>(),
          alpha.data<T>(), data_or_null<T>(dO), data_or_null<T>(dZ), data_or_null<T>(dV));
    });
  });
  return r;
}

}  // namespace attn
