#include "framework/ops/transfer.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/elementwise.h"
#include "framework/kernels/cuda/elementwise.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {

// dst += src, both on dst's device (src is copied there first).
void accumulate(Tensor dst, const Tensor& src) {
  const Tensor s = src.to(dst.device());
  if (dst.device().is_cuda()) {
    ATTN_CHECK(dst.dtype() == DType::kF32, "transfer: CUDA gradients are f32, got {}", dst.str());
    cuda::axpy(dst.data<float>(), 1.0f, s.data<float>(), dst.numel());
    return;
  }
  detail::dispatch_float(dst, "transfer", [&](auto tag) {
    using T = decltype(tag);
    cpu::axpy<T>(dst.data<T>(), T(1), s.data<T>(), dst.numel());
  });
}

}  // namespace

Tensor transfer(const Tensor& x, Device device) {
  if (x.device() == device) return x;
  Tensor y = x.to(device);
  if (!needs_grad({x})) return y;
  record("transfer", {y}, [x, y] { accumulate(x.grad_or_zeros(), y.grad()); });
  return y;
}

}  // namespace attn
