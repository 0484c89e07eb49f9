#include "framework/ops/softmax.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/softmax.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {

Tensor softmax_impl(const Tensor& x, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  detail::check_cpu(name, {x});
  ATTN_CHECK(x.ndim() >= 1, "{}: scalar input", name);
  const int64_t cols = x.size(-1), rows = x.numel() / std::max<int64_t>(cols, 1);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  detail::dispatch_float(x, name, [&](auto tag) {
    using T = decltype(tag);
    cpu::softmax_forward<T>(y.data<T>(), x.data<T>(), rows, cols, log);
  });
  if (!needs_grad({x})) return y;
  record(name, {y}, [x, y, rows, cols, log, name] {
    detail::dispatch_float(x, name, [&](auto tag) {
      using T = decltype(tag);
      cpu::softmax_backward<T>(x.grad_or_zeros().data<T>(), y.grad().data<T>(), y.data<T>(), rows,
                               cols, log);
    });
  });
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x) {
  return softmax_impl(x, false);
}
Tensor log_softmax(const Tensor& x) {
  return softmax_impl(x, true);
}

}  // namespace attn
