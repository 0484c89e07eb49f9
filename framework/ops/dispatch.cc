#include "framework/ops/dispatch.h"

namespace attn::detail {

void check_same_device(const char* op, std::initializer_list<Tensor> ts) {
  const Tensor* first = nullptr;
  for (const Tensor& t : ts) {
    if (!t.defined()) continue;
    if (!first) first = &t;
    ATTN_CHECK(t.device() == first->device(), "{}: tensors on {} and {}", op, first->device().str(),
               t.device().str());
  }
}

void check_same_dtype(const char* op, std::initializer_list<Tensor> ts) {
  const Tensor* first = nullptr;
  for (const Tensor& t : ts) {
    if (!t.defined()) continue;
    if (!first) first = &t;
    ATTN_CHECK(t.dtype() == first->dtype(), "{}: dtypes {} and {}", op, dtype_name(first->dtype()),
               dtype_name(t.dtype()));
  }
}

void check_cpu(const char* op, std::initializer_list<Tensor> ts) {
  for (const Tensor& t : ts)
    if (t.defined() && !t.device().is_cpu())
      ATTN_FAIL(kShape, "{}: no CUDA kernel for this op yet (tensor {} on {})", op, t.str(),
                t.device().str());
}

}  // namespace attn::detail
