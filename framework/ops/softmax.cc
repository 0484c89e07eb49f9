#include "framework/ops/softmax.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/softmax.h"
#include "framework/kernels/cuda/softmax.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {

// f32 on CUDA, f32/f64 on CPU; the backward runs where the tensors live.
Tensor softmax_impl(const Tensor& x, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  ATTN_CHECK(x.ndim() >= 1, "{}: scalar input", name);
  const bool on_gpu = x.device().is_cuda();
  ATTN_CHECK(!on_gpu || x.dtype() == DType::kF32, "{}: CUDA softmax is f32 only, got {}", name,
             x.str());
  const int64_t cols = x.size(-1), rows = x.numel() / std::max<int64_t>(cols, 1);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_gpu) {
    cuda::softmax_forward(y.data<float>(), x.data<float>(), rows, cols, log);
  } else {
    detail::dispatch_float(x, name, [&](auto tag) {
      using T = decltype(tag);
      cpu::softmax_forward<T>(y.data<T>(), x.data<T>(), rows, cols, log);
    });
  }
  if (!needs_grad({x})) return y;
  record(name, {y}, [x, y, rows, cols, log, name, on_gpu] {
    if (on_gpu) {
      cuda::softmax_backward(x.grad_or_zeros().data<float>(), y.grad().data<float>(),
                             y.data<float>(), rows, cols, log);
      return;
    }
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
