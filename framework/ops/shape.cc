#include "framework/ops/shape.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/copy.h"
#include "framework/kernels/cpu/elementwise.h"
#include "framework/kernels/cuda/copy.h"
#include "framework/kernels/cuda/elementwise.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {

// Pure data movement works on every dtype; accumulation (backward) only ever sees floats.
template <typename F>
void dispatch_any(const Tensor& t, F&& f) {
  switch (t.dtype()) {
    case DType::kF32:
      return f(float{});
    case DType::kF64:
      return f(double{});
    case DType::kI32:
      return f(int32_t{});
    case DType::kI64:
      return f(int64_t{});
    case DType::kBF16:
      return f(uint16_t{});
  }
}

// Copies the block [begin, begin + len) of `axis` between src (extent src_n along axis) and dst
// (extent dst_n), at offsets src_at / dst_at along that axis.
struct AxisBlock {
  int64_t outer, inner;
};

AxisBlock axis_block(const Shape& s, int a) {
  return {s.prod(0, a), s.prod(a + 1, s.ndim())};
}

// Moves the block [src_at, src_at + len) of axis a of src (extent src_n along it) to offset
// dst_at of dst (extent dst_n), on the tensors' device. Forward copies take every dtype;
// accumulation (backward) only ever sees floats, and f32 on CUDA.
void move_block(const Tensor& dst, int64_t dst_n, int64_t dst_at, const Tensor& src, int64_t src_n,
                int64_t src_at, int64_t len, AxisBlock b, bool accumulate) {
  const int64_t dst_off = dst_at * b.inner, dst_stride = dst_n * b.inner;
  const int64_t src_off = src_at * b.inner, src_stride = src_n * b.inner;
  if (dst.device().is_cuda()) {
    if (accumulate) {
      ATTN_CHECK(dst.dtype() == DType::kF32, "CUDA shape-op gradients are f32 only, got {}",
                 dst.str());
      cuda::copy_blocks(dst.data<float>() + dst_off, dst_stride, src.data<float>() + src_off,
                        src_stride, b.outer, len * b.inner, true);
      return;
    }
    const int64_t bytes = static_cast<int64_t>(dtype_size(dst.dtype()));
    cuda::copy_blocks_raw(static_cast<char*>(dst.raw()) + dst_off * bytes, dst_stride,
                          static_cast<const char*>(src.raw()) + src_off * bytes, src_stride,
                          b.outer, len * b.inner, bytes);
    return;
  }
  auto move = [&](auto tag) {
    using T = decltype(tag);
    cpu::copy_blocks<T>(dst.data<T>() + dst_off, dst_stride, src.data<T>() + src_off, src_stride,
                        b.outer, len * b.inner, accumulate);
  };
  if (accumulate)
    detail::dispatch_float(dst, "shape op gradient", move);
  else
    dispatch_any(dst, move);
}

void accumulate_whole(const Tensor& x, const Tensor& dout) {
  if (x.device().is_cuda()) {
    ATTN_CHECK(x.dtype() == DType::kF32, "CUDA shape-op gradients are f32 only, got {}", x.str());
    return cuda::axpy(x.grad_or_zeros().data<float>(), 1.0f, dout.data<float>(), x.numel());
  }
  detail::dispatch_float(x, "accumulate", [&](auto tag) {
    using T = decltype(tag);
    cpu::axpy<T>(x.grad_or_zeros().data<T>(), T(1), dout.data<T>(), x.numel());
  });
}

// out[b, c, r] (= or +=) x[b, r, c] on the tensors' device; accumulation as in move_block.
void transpose_into(const Tensor& out, const Tensor& x, int64_t batch, int64_t rows, int64_t cols,
                    bool accumulate) {
  if (x.device().is_cuda()) {
    if (accumulate) {
      ATTN_CHECK(x.dtype() == DType::kF32, "CUDA shape-op gradients are f32 only, got {}", x.str());
      return cuda::transpose_last2(out.data<float>(), x.data<float>(), batch, rows, cols, true);
    }
    return cuda::transpose_last2_raw(out.raw(), x.raw(), batch, rows, cols,
                                     static_cast<int64_t>(dtype_size(x.dtype())));
  }
  auto move = [&](auto tag) {
    using T = decltype(tag);
    cpu::transpose_last2<T>(out.data<T>(), x.data<T>(), batch, rows, cols, accumulate);
  };
  if (accumulate)
    detail::dispatch_float(x, "transpose_last2", move);
  else
    dispatch_any(x, move);
}

}  // namespace

Tensor reshape(const Tensor& x, const std::vector<int64_t>& dims) {
  std::vector<int64_t> d = dims;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] == -1) {
      ATTN_CHECK(infer < 0, "reshape: more than one -1 in the new shape of {}", x.str());
      infer = static_cast<int>(i);
    } else {
      ATTN_CHECK(d[i] >= 0, "reshape: dimension {} in the new shape of {}", d[i], x.str());
      known *= d[i];
    }
  }
  if (infer >= 0) {
    ATTN_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot infer -1 for {}", x.str());
    d[infer] = x.numel() / known;
  }
  Tensor y = x.view(Shape(d));
  if (!needs_grad({x})) return y;
  record("reshape", {y}, [x, y] { accumulate_whole(x, y.grad()); });
  return y;
}

Tensor slice(const Tensor& x, int axis, int64_t begin, int64_t end) {
  int a = x.shape().axis(axis);
  ATTN_CHECK(0 <= begin && begin <= end && end <= x.size(a), "slice: [{}, {}) of axis {} of {}",
             begin, end, a, x.str());
  Tensor y;
  if (a == 0) {
    y = x.slice0(begin, end);
  } else {
    std::vector<int64_t> dims = x.shape().vec();
    dims[a] = end - begin;
    y = Tensor::empty(Shape(dims), x.dtype(), x.device());
    move_block(y, end - begin, 0, x, x.size(a), begin, end - begin, axis_block(x.shape(), a),
               false);
  }
  if (!needs_grad({x})) return y;
  record("slice", {y}, [x, y, a, begin, end] {
    move_block(x.grad_or_zeros(), x.size(a), begin, y.grad(), end - begin, 0, end - begin,
               axis_block(x.shape(), a), true);
  });
  return y;
}

Tensor concat(const std::vector<Tensor>& xs, int axis) {
  ATTN_CHECK(!xs.empty(), "concat: no tensors");
  const Tensor& first = xs[0];
  int a = first.shape().axis(axis);
  int64_t total = 0;
  for (const Tensor& t : xs) {
    bool same = t.ndim() == first.ndim() && t.dtype() == first.dtype();
    ATTN_CHECK(t.device() == first.device(), "concat: tensors on {} and {}", first.device().str(),
               t.device().str());
    for (int i = 0; same && i < t.ndim(); ++i) same = i == a || t.size(i) == first.size(i);
    ATTN_CHECK(same, "concat: {} does not match {} outside axis {}", t.str(), first.str(), a);
    total += t.size(a);
  }
  std::vector<int64_t> dims = first.shape().vec();
  dims[a] = total;
  Tensor y = Tensor::empty(Shape(dims), first.dtype(), first.device());
  AxisBlock b = axis_block(y.shape(), a);
  int64_t at = 0;
  for (const Tensor& t : xs) {
    move_block(y, total, at, t, t.size(a), 0, t.size(a), b, false);
    at += t.size(a);
  }
  if (!needs_grad(xs)) return y;
  record("concat", {y}, [xs, y, a, total, b] {
    const Tensor dy = y.grad();
    int64_t at = 0;
    for (const Tensor& t : xs) {
      if (t.requires_grad())
        move_block(t.grad_or_zeros(), t.size(a), 0, dy, total, at, t.size(a), b, true);
      at += t.size(a);
    }
  });
  return y;
}

std::vector<Tensor> split(const Tensor& x, int axis, const std::vector<int64_t>& sizes) {
  int a = x.shape().axis(axis);
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  ATTN_CHECK(total == x.size(a), "split: sizes add up to {}, axis {} of {} has {}", total, a,
             x.str(), x.size(a));
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(slice(x, a, at, at + s));
    at += s;
  }
  return out;
}

Tensor transpose_last2(const Tensor& x) {
  ATTN_CHECK(x.ndim() >= 2, "transpose_last2: needs 2+ dims, got {}", x.str());
  std::vector<int64_t> dims = x.shape().vec();
  std::swap(dims[x.ndim() - 1], dims[x.ndim() - 2]);
  const int64_t rows = x.size(-2), cols = x.size(-1), batch = x.shape().prod(0, x.ndim() - 2);
  Tensor y = Tensor::empty(Shape(dims), x.dtype(), x.device());
  transpose_into(y, x, batch, rows, cols, false);
  if (!needs_grad({x})) return y;
  record("transpose_last2", {y}, [x, y, batch, rows, cols] {
    transpose_into(x.grad_or_zeros(), y.grad(), batch, cols, rows, true);
  });
  return y;
}

}  // namespace attn
