#include "framework/ops/reduce.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/reduce.h"
#include "framework/kernels/cuda/reduce.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {

// cuda::sum_axis with its scratch; the scratch is freed on return, and the caching allocator
// hands it out again only to work queued after the sums on the same compute stream.
void cuda_sum_axis(const Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
                   double alpha) {
  const int64_t floats = cuda::sum_axis_scratch(outer, n, inner);
  Tensor scratch;
  if (floats > 0) scratch = Tensor::empty({floats}, DType::kF32, x.device());
  cuda::sum_axis(out.data<float>(), x.data<float>(), outer, n, inner, float(alpha), false,
                 floats > 0 ? scratch.data<float>() : nullptr);
}

// x viewed as [outer, n, inner] reduced over n; alpha = 1 (sum) or 1/n (mean).
Tensor reduce(const char* name, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
              double alpha, Shape out_shape) {
  const bool on_gpu = x.device().is_cuda();
  ATTN_CHECK(!on_gpu || x.dtype() == DType::kF32, "{}: CUDA reductions are f32 only, got {}", name,
             x.str());
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  if (on_gpu) {
    cuda_sum_axis(out, x, outer, n, inner, alpha);
  } else {
    detail::dispatch_float(x, name, [&](auto tag) {
      using T = decltype(tag);
      cpu::sum_axis<T>(out.data<T>(), x.data<T>(), outer, n, inner, T(alpha), false);
    });
  }
  if (!needs_grad({x})) return out;
  record(name, {out}, [x, out, outer, n, inner, alpha, name, on_gpu] {
    if (on_gpu) {
      cuda::broadcast_axis_accumulate(x.grad_or_zeros().data<float>(), out.grad().data<float>(),
                                      outer, n, inner, float(alpha));
      return;
    }
    detail::dispatch_float(x, name, [&](auto tag) {
      using T = decltype(tag);
      cpu::broadcast_axis_accumulate<T>(x.grad_or_zeros().data<T>(), out.grad().data<T>(), outer, n,
                                        inner, T(alpha));
    });
  });
  return out;
}

Tensor reduce_axis(const char* name, const Tensor& x, int axis, bool keepdim, bool is_mean) {
  int a = x.shape().axis(axis);
  int64_t n = x.size(a);
  std::vector<int64_t> dims = x.shape().vec();
  if (keepdim)
    dims[a] = 1;
  else
    dims.erase(dims.begin() + a);
  double alpha = is_mean ? 1.0 / double(std::max<int64_t>(n, 1)) : 1.0;
  return reduce(name, x, x.shape().prod(0, a), n, x.shape().prod(a + 1, x.ndim()), alpha,
                Shape(dims));
}

}  // namespace

Tensor sum(const Tensor& x, int axis, bool keepdim) {
  return reduce_axis("sum", x, axis, keepdim, false);
}
Tensor mean(const Tensor& x, int axis, bool keepdim) {
  return reduce_axis("mean", x, axis, keepdim, true);
}
Tensor sum(const Tensor& x) {
  return reduce("sum", x, 1, x.numel(), 1, 1.0, Shape{});
}
Tensor mean(const Tensor& x) {
  return reduce("mean", x, 1, x.numel(), 1, 1.0 / double(std::max<int64_t>(x.numel(), 1)), Shape{});
}

}  // namespace attn
