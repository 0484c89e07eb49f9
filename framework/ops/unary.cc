#include "framework/ops/unary.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/unary.h"
#include "framework/kernels/cuda/unary.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {

const char* op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::kGeluErf:
      return "gelu";
    case UnaryOp::kGeluTanh:
      return "gelu_tanh";
    case UnaryOp::kSilu:
      return "silu";
    case UnaryOp::kSigmoid:
      return "sigmoid";
    case UnaryOp::kTanh:
      return "tanh";
    case UnaryOp::kExp:
      return "exp";
    case UnaryOp::kLog:
      return "log";
  }
  return "unary";
}

// f32 on CUDA, f32/f64 on CPU; the backward runs where the tensors live.
Tensor unary(UnaryOp op, const Tensor& x) {
  const char* name = op_name(op);
  const bool on_gpu = x.device().is_cuda();
  ATTN_CHECK(!on_gpu || x.dtype() == DType::kF32, "{}: CUDA activations are f32 only, got {}", name,
             x.str());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_gpu) {
    cuda::unary_forward(op, y.data<float>(), x.data<float>(), x.numel());
  } else {
    detail::dispatch_float(x, name, [&](auto tag) {
      using T = decltype(tag);
      cpu::unary_forward<T>(op, y.data<T>(), x.data<T>(), x.numel());
    });
  }
  if (!needs_grad({x})) return y;
  record(name, {y}, [op, x, y, name, on_gpu] {
    if (on_gpu) {
      cuda::unary_backward(op, x.grad_or_zeros().data<float>(), y.grad().data<float>(),
                           x.data<float>(), y.data<float>(), x.numel());
      return;
    }
    detail::dispatch_float(x, name, [&](auto tag) {
      using T = decltype(tag);
      cpu::unary_backward<T>(op, x.grad_or_zeros().data<T>(), y.grad().data<T>(), x.data<T>(),
                             y.data<T>(), x.numel());
    });
  });
  return y;
}

}  // namespace

Tensor gelu(const Tensor& x, GeluApprox approx) {
  return unary(approx == GeluApprox::kErf ? UnaryOp::kGeluErf : UnaryOp::kGeluTanh, x);
}
Tensor silu(const Tensor& x) {
  return unary(UnaryOp::kSilu, x);
}
Tensor sigmoid(const Tensor& x) {
  return unary(UnaryOp::kSigmoid, x);
}
Tensor tanh(const Tensor& x) {
  return unary(UnaryOp::kTanh, x);
}
Tensor exp(const Tensor& x) {
  return unary(UnaryOp::kExp, x);
}
Tensor log(const Tensor& x) {
  return unary(UnaryOp::kLog, x);
}

}  // namespace attn
