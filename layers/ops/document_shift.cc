#include "layers/ops/document_shift.h"

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/dispatch.h"
#include "layers/kernels/document_shift.h"
#include "layers/packed_sequences.h"

namespace attn {

Tensor document_shift(const Tensor& x, const Tensor& cu_seqlens, int64_t s) {
  ATTN_CHECK(x.ndim() >= 1 && s >= 0, "document_shift: x {}, shift {}", x.str(), s);
  const bool on_gpu = x.device().is_cuda();
  ATTN_CHECK(!on_gpu || x.dtype() == DType::kF32, "document_shift: CUDA is f32 only, got {}",
             x.str());
  const DocumentBounds docs = document_bounds(cu_seqlens, x.size(0), x.device(), "document_shift");
  const Tensor cu = docs.on_device;
  const int64_t tokens = x.size(0), cols = tokens > 0 ? x.numel() / tokens : 0, n = docs.docs();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_gpu) {
    cuda::document_shift(x.data<float>(), cu.data<int32_t>(), n, tokens, cols, s, y.data<float>());
  } else {
    detail::dispatch_float(x, "document_shift", [&](auto tag) {
      using T = decltype(tag);
      cpu::document_shift<T>(x.data<T>(), cu.data<int32_t>(), n, cols, s, y.data<T>());
    });
  }
  if (!needs_grad({x})) return y;
  record("document_shift", {y}, [x, y, cu, n, tokens, cols, s, on_gpu] {
    if (on_gpu) {
      cuda::document_shift_backward(y.grad().data<float>(), cu.data<int32_t>(), n, tokens, cols, s,
                                    x.grad_or_zeros().data<float>());
      return;
    }
    detail::dispatch_float(x, "document_shift", [&](auto tag) {
      using T = decltype(tag);
      cpu::document_shift_backward<T>(y.grad().data<T>(), cu.data<int32_t>(), n, cols, s,
                                      x.grad_or_zeros().data<T>());
    });
  });
  return y;
}

}  // namespace attn
