#include "framework/ops/rope.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/rope.h"
#include "framework/ops/dispatch.h"

namespace attn {

Tensor rope(const Tensor& x, const Tensor& positions, const RopeOptions& options) {
  detail::check_cpu("rope", {x, positions});
  ATTN_CHECK(x.ndim() == 3 && x.size(2) % 2 == 0,
             "rope: x must be [tokens, heads, even dim], got {}", x.str());
  ATTN_CHECK(
      positions.dtype() == DType::kI32 && positions.ndim() == 1 && positions.size(0) == x.size(0),
      "rope: positions must be i32 [{}], got {}", x.size(0), positions.str());
  ATTN_CHECK(options.base > 1.0, "rope: base must exceed 1, got {}", options.base);
  const int64_t tokens = x.size(0), heads = x.size(1), dim = x.size(2);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  detail::dispatch_float(x, "rope", [&](auto tag) {
    using T = decltype(tag);
    cpu::rope_rotate<T>(y.data<T>(), x.data<T>(), positions.data<int32_t>(), tokens, heads, dim,
                        options.base, options.pairing, false, false);
  });
  if (!needs_grad({x})) return y;
  record("rope", {y}, [x, y, positions, tokens, heads, dim, options] {
    detail::dispatch_float(x, "rope", [&](auto tag) {
      using T = decltype(tag);
      cpu::rope_rotate<T>(x.grad_or_zeros().data<T>(), y.grad().data<T>(),
                          positions.data<int32_t>(), tokens, heads, dim, options.base,
                          options.pairing, true, true);
    });
  });
  return y;
}

}  // namespace attn
