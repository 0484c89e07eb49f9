#include "framework/ops/elementwise.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/elementwise.h"
#include "framework/kernels/cpu/reduce.h"
#include "framework/kernels/cuda/bias.h"
#include "framework/kernels/cuda/elementwise.h"
#include "framework/kernels/cuda/reduce.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {

using detail::axpy_into;

void mul_into(const Tensor& y, const Tensor& a, const Tensor& b) {
  if (y.device().is_cuda())
    return cuda::mul_accumulate(y.data<float>(), a.data<float>(), b.data<float>(), y.numel());
  detail::dispatch_float(y, "mul", [&](auto tag) {
    using T = decltype(tag);
    cpu::mul_accumulate<T>(y.data<T>(), a.data<T>(), b.data<T>(), y.numel());
  });
}

Tensor binary(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  ATTN_CHECK(a.shape() == b.shape(), "{}: shapes {} and {} differ", name, a.str(), b.str());
  detail::check_same_dtype(name, {a, b});
  detail::check_same_device(name, {a, b});
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  if (a.device().is_cuda()) {
    ATTN_CHECK(a.dtype() == DType::kF32, "{}: CUDA elementwise ops are f32 only, got {}", name,
               a.str());
    cuda::binary_forward(op, out.data<float>(), a.data<float>(), b.data<float>(), a.numel());
  } else {
    detail::dispatch_float(a, name, [&](auto tag) {
      using T = decltype(tag);
      cpu::binary_forward<T>(op, out.data<T>(), a.data<T>(), b.data<T>(), a.numel());
    });
  }
  if (!needs_grad({a, b})) return out;
  record(name, {out}, [op, a, b, out] {
    Tensor dout = out.grad();
    Tensor da = grad_target(a), db = grad_target(b);
    switch (op) {
      case BinaryOp::kAdd:
      case BinaryOp::kSub:
        if (da.defined()) axpy_into(da, 1.0, dout);
        if (db.defined()) axpy_into(db, op == BinaryOp::kAdd ? 1.0 : -1.0, dout);
        break;
      case BinaryOp::kMul:
        if (da.defined()) mul_into(da, dout, b);
        if (db.defined()) mul_into(db, dout, a);
        break;
    }
  });
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::kAdd, "add", a, b);
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::kSub, "sub", a, b);
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::kMul, "mul", a, b);
}

Tensor scale(const Tensor& x, double alpha) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_cuda()) {
    ATTN_CHECK(x.dtype() == DType::kF32, "scale: CUDA elementwise ops are f32 only, got {}",
               x.str());
    cuda::scale(out.data<float>(), x.data<float>(), float(alpha), x.numel());
  } else {
    detail::dispatch_float(x, "scale", [&](auto tag) {
      using T = decltype(tag);
      cpu::scale<T>(out.data<T>(), x.data<T>(), T(alpha), x.numel());
    });
  }
  if (!needs_grad({x})) return out;
  record("scale", {out}, [x, out, alpha] { axpy_into(x.grad_or_zeros(), alpha, out.grad()); });
  return out;
}

Tensor add_bias(const Tensor& x, const Tensor& bias) {
  ATTN_CHECK(bias.ndim() == 1 && x.ndim() >= 1 && x.size(-1) == bias.size(0),
             "add_bias: bias {} for input {}", bias.str(), x.str());
  detail::check_same_device("add_bias", {x, bias});
  detail::check_same_dtype("add_bias", {x, bias});
  const bool on_gpu = x.device().is_cuda();
  ATTN_CHECK(!on_gpu || x.dtype() == DType::kF32, "add_bias: CUDA ops are f32 only, got {}",
             x.str());
  const int64_t cols = bias.size(0), rows = x.numel() / std::max<int64_t>(cols, 1);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_gpu) {
    cuda::bias_add(out.data<float>(), x.data<float>(), bias.data<float>(), rows, cols);
  } else {
    detail::dispatch_float(x, "add_bias", [&](auto tag) {
      using T = decltype(tag);
      cpu::bias_add<T>(out.data<T>(), x.data<T>(), bias.data<T>(), rows, cols);
    });
  }
  if (!needs_grad({x, bias})) return out;
  record("add_bias", {out}, [x, bias, out] { detail::add_bias_backward(x, bias, out.grad()); });
  return out;
}

void detail::axpy_into(const Tensor& y, double alpha, const Tensor& x) {
  if (y.device().is_cuda()) {
    ATTN_CHECK(y.dtype() == DType::kF32, "CUDA elementwise ops are f32 only, got {}", y.str());
    return cuda::axpy(y.data<float>(), float(alpha), x.data<float>(), y.numel());
  }
  detail::dispatch_float(y, "axpy", [&](auto tag) {
    using T = decltype(tag);
    cpu::axpy<T>(y.data<T>(), T(alpha), x.data<T>(), y.numel());
  });
}

void detail::add_bias_backward(const Tensor& x, const Tensor& bias, const Tensor& dout) {
  const int64_t cols = bias.size(0), rows = dout.numel() / std::max<int64_t>(cols, 1);
  if (x.defined() && x.requires_grad()) axpy_into(x.grad_or_zeros(), 1.0, dout);
  if (!bias.requires_grad()) return;
  if (dout.device().is_cuda()) {
    // Column sums of dout in two deterministic passes; the caching allocator hands the scratch
    // out again only to work queued after them on the same stream.
    const int64_t floats = cuda::sum_axis_scratch(1, rows, cols);
    Tensor scratch;
    if (floats > 0) scratch = Tensor::empty({floats}, DType::kF32, dout.device());
    cuda::sum_axis(bias.grad_or_zeros().data<float>(), dout.data<float>(), 1, rows, cols, 1.0f,
                   true, floats > 0 ? scratch.data<float>() : nullptr);
    return;
  }
  detail::dispatch_float(dout, "add_bias", [&](auto tag) {
    using T = decltype(tag);
    cpu::sum_axis<T>(bias.grad_or_zeros().data<T>(), dout.data<T>(), 1, rows, cols, T(1), true);
  });
}

Tensor scale_rows(const Tensor& x, const Tensor& s) {
  bool leading = x.ndim() >= 1 && s.ndim() == x.ndim() - 1;
  for (int i = 0; leading && i < s.ndim(); ++i) leading = s.size(i) == x.size(i);
  ATTN_CHECK(leading, "scale_rows: factors {} must have the leading shape of {}", s.str(), x.str());
  detail::check_same_device("scale_rows", {x, s});
  detail::check_same_dtype("scale_rows", {x, s});
  const bool on_gpu = x.device().is_cuda();
  ATTN_CHECK(!on_gpu || x.dtype() == DType::kF32, "scale_rows: CUDA ops are f32 only, got {}",
             x.str());
  const int64_t cols = x.size(-1), rows = s.numel();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_gpu) {
    cuda::scale_rows(out.data<float>(), x.data<float>(), s.data<float>(), rows, cols);
  } else {
    detail::dispatch_float(x, "scale_rows", [&](auto tag) {
      using T = decltype(tag);
      cpu::scale_rows<T>(out.data<T>(), x.data<T>(), s.data<T>(), rows, cols);
    });
  }
  if (!needs_grad({x, s})) return out;
  record("scale_rows", {out}, [x, s, out, rows, cols, on_gpu] {
    Tensor dx = grad_target(x), ds = grad_target(s);
    if (on_gpu) {
      cuda::scale_rows_backward(dx.defined() ? dx.data<float>() : nullptr,
                                ds.defined() ? ds.data<float>() : nullptr, out.grad().data<float>(),
                                x.data<float>(), s.data<float>(), rows, cols);
      return;
    }
    detail::dispatch_float(x, "scale_rows", [&](auto tag) {
      using T = decltype(tag);
      cpu::scale_rows_backward<T>(dx.defined() ? dx.data<T>() : nullptr,
                                  ds.defined() ? ds.data<T>() : nullptr, out.grad().data<T>(),
                                  x.data<T>(), s.data<T>(), rows, cols);
    });
  });
  return out;
}

}  // namespace attn
