// Helpers every op uses to check its inputs and pick the kernel instantiation for a dtype and
// device. Checks run before any kernel, so kernels never see inconsistent arguments.
#pragma once

#include <initializer_list>

#include "framework/core/tensor.h"

namespace attn::detail {

// Calls f(float{}) or f(double{}) according to the floating dtype.
template <typename F>
void dispatch_float(const Tensor& t, const char* op, F&& f) {
  switch (t.dtype()) {
    case DType::kF32:
      f(float{});
      return;
    case DType::kF64:
      f(double{});
      return;
    default:
      ATTN_FAIL(kShape, "{}: needs an f32 or f64 tensor, got {}", op, t.str());
  }
}

// Calls f(int32_t{}) or f(int64_t{}) according to the index dtype.
template <typename F>
void dispatch_index(const Tensor& t, const char* op, F&& f) {
  switch (t.dtype()) {
    case DType::kI32:
      f(int32_t{});
      return;
    case DType::kI64:
      f(int64_t{});
      return;
    default:
      ATTN_FAIL(kShape, "{}: needs an i32 or i64 index tensor, got {}", op, t.str());
  }
}

// All defined tensors share the first one's device (and dtype, for check_same_dtype).
void check_same_device(const char* op, std::initializer_list<Tensor> ts);
void check_same_dtype(const char* op, std::initializer_list<Tensor> ts);
// For ops whose CUDA kernel does not exist yet: a clear error instead of a wrong result.
void check_cpu(const char* op, std::initializer_list<Tensor> ts);

}  // namespace attn::detail
