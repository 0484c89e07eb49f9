#include "framework/ops/unary.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/unary.h"
#include "framework/kernels/cuda/unary.h"
#include "framework/ops/dispatch.h"
#include "framework/ops/elementwise.h"

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
    case UnaryOp::kRelu:
      return "relu";
  }
  return "unary";
}

// y = f(x (+ bias)); f32 on CUDA, f32/f64 on CPU; the backward runs where the tensors live.
// With a bias the sum x + bias is never stored: the backward recomputes it in the kernel.
Tensor unary(UnaryOp op, const Tensor& x, const Tensor& bias = Tensor()) {
  const char* name = op_name(op);
  const bool on_gpu = x.device().is_cuda();
  ATTN_CHECK(!on_gpu || x.dtype() == DType::kF32, "{}: CUDA activations are f32 only, got {}", name,
             x.str());
  int64_t cols = 0;
  if (bias.defined()) {
    ATTN_CHECK(bias.ndim() == 1 && x.ndim() >= 1 && x.size(-1) == bias.size(0),
               "{}: bias {} for input {}", name, bias.str(), x.str());
    detail::check_same_device(name, {x, bias});
    detail::check_same_dtype(name, {x, bias});
    cols = bias.size(0);
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_gpu) {
    cuda::unary_forward(op, y.data<float>(), x.data<float>(), x.numel(), data_or_null<float>(bias),
                        cols);
  } else {
    detail::dispatch_float(x, name, [&](auto tag) {
      using T = decltype(tag);
      cpu::unary_forward<T>(op, y.data<T>(), x.data<T>(), x.numel(), data_or_null<T>(bias), cols);
    });
  }
  if (!needs_grad({x, bias})) return y;
  record(name, {y}, [op, x, bias, y, cols, name, on_gpu] {
    // dz = dL/d(x + bias) goes straight into x's gradient when that is all it has (no bias,
    // or x's gradient still empty: x is the product feeding this op, dz is its whole gradient);
    // otherwise into a scratch that add_bias's backward spreads over x and the bias.
    const bool into_x = x.requires_grad() && (!bias.defined() || !x.has_grad());
    const Tensor dz = into_x ? x.grad_or_zeros() : Tensor::zeros(x.shape(), x.dtype(), x.device());
    if (on_gpu) {
      cuda::unary_backward(op, dz.data<float>(), y.grad().data<float>(), x.data<float>(),
                           y.data<float>(), x.numel(), data_or_null<float>(bias), cols);
    } else {
      detail::dispatch_float(x, name, [&](auto tag) {
        using T = decltype(tag);
        cpu::unary_backward<T>(op, dz.data<T>(), y.grad().data<T>(), x.data<T>(), y.data<T>(),
                               x.numel(), data_or_null<T>(bias), cols);
      });
    }
    if (bias.defined()) detail::add_bias_backward(into_x ? Tensor() : x, bias, dz);
  });
  return y;
}

}  // namespace

Tensor gelu(const Tensor& x, GeluApprox approx) {
  return unary(approx == GeluApprox::kErf ? UnaryOp::kGeluErf : UnaryOp::kGeluTanh, x);
}
Tensor bias_gelu(const Tensor& x, const Tensor& bias, GeluApprox approx) {
  return unary(approx == GeluApprox::kErf ? UnaryOp::kGeluErf : UnaryOp::kGeluTanh, x, bias);
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

Tensor relu(const Tensor& x) {
  return unary(UnaryOp::kRelu, x);
}

}  // namespace attn
