#include "framework/ops/rope.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/rope.h"
#include "framework/kernels/cuda/rope.h"
#include "framework/ops/dispatch.h"

namespace attn {

// Positions may live on the CPU or on x's device; the kernel reads them beside x (one small
// host-to-device copy when x is on a GPU and they are not).
Tensor rope(const Tensor& x, const Tensor& positions, const RopeOptions& options) {
  ATTN_CHECK(x.ndim() == 3 && x.size(2) % 2 == 0,
             "rope: x must be [tokens, heads, even dim], got {}", x.str());
  ATTN_CHECK(
      positions.dtype() == DType::kI32 && positions.ndim() == 1 && positions.size(0) == x.size(0),
      "rope: positions must be i32 [{}], got {}", x.size(0), positions.str());
  ATTN_CHECK(options.base > 1.0, "rope: base must exceed 1, got {}", options.base);
  ATTN_CHECK(positions.device().is_cpu() || positions.device() == x.device(),
             "rope: positions on {} for x on {}", positions.device().str(), x.device().str());
  const bool on_gpu = x.device().is_cuda();
  ATTN_CHECK(!on_gpu || x.dtype() == DType::kF32, "rope: CUDA rope is f32 only, got {}", x.str());
  const int64_t tokens = x.size(0), heads = x.size(1), dim = x.size(2);
  const Tensor pos = positions.to(x.device());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_gpu) {
    cuda::rope_rotate(y.data<float>(), x.data<float>(), pos.data<int32_t>(), tokens, heads, dim,
                      options.base, options.pairing, false, false);
  } else {
    detail::dispatch_float(x, "rope", [&](auto tag) {
      using T = decltype(tag);
      cpu::rope_rotate<T>(y.data<T>(), x.data<T>(), pos.data<int32_t>(), tokens, heads, dim,
                          options.base, options.pairing, false, false);
    });
  }
  if (!needs_grad({x})) return y;
  record("rope", {y}, [x, y, pos, tokens, heads, dim, options, on_gpu] {
    if (on_gpu) {
      cuda::rope_rotate(x.grad_or_zeros().data<float>(), y.grad().data<float>(),
                        pos.data<int32_t>(), tokens, heads, dim, options.base, options.pairing,
                        true, true);
      return;
    }
    detail::dispatch_float(x, "rope", [&](auto tag) {
      using T = decltype(tag);
      cpu::rope_rotate<T>(x.grad_or_zeros().data<T>(), y.grad().data<T>(), pos.data<int32_t>(),
                          tokens, heads, dim, options.base, options.pairing, true, true);
    });
  });
  return y;
}

}  // namespace attn
