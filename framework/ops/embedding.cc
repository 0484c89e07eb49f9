#include "framework/ops/embedding.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/embedding.h"
#include "framework/ops/dispatch.h"

namespace attn {

Tensor embedding(const Tensor& table, const Tensor& ids) {
  detail::check_cpu("embedding", {table, ids});
  ATTN_CHECK(table.ndim() == 2, "embedding: table must be [vocab, dim], got {}", table.str());
  ATTN_CHECK(ids.ndim() < kMaxDims, "embedding: ids {} leave no room for the feature dim",
             ids.str());
  const int64_t vocab = table.size(0), dim = table.size(1), n = ids.numel();
  detail::dispatch_index(ids, "embedding", [&](auto itag) {
    using I = decltype(itag);
    const I* p = ids.data<I>();
    for (int64_t t = 0; t < n; ++t)
      if (p[t] < 0 || p[t] >= vocab)
        ATTN_FAIL(kInput, "embedding: id {} at position {} is outside the vocabulary [0, {})",
                  static_cast<int64_t>(p[t]), t, vocab);
  });
  std::vector<int64_t> out_dims = ids.shape().vec();
  out_dims.push_back(dim);
  Tensor out = Tensor::empty(Shape(out_dims), table.dtype(), table.device());
  detail::dispatch_float(table, "embedding", [&](auto tag) {
    using T = decltype(tag);
    detail::dispatch_index(ids, "embedding", [&](auto itag) {
      using I = decltype(itag);
      cpu::embedding_forward<T, I>(out.data<T>(), ids.data<I>(), table.data<T>(), n, dim);
    });
  });
  if (!needs_grad({table})) return out;
  record("embedding", {out}, [table, ids, out, n, dim] {
    detail::dispatch_float(table, "embedding", [&](auto tag) {
      using T = decltype(tag);
      detail::dispatch_index(ids, "embedding", [&](auto itag) {
        using I = decltype(itag);
        cpu::embedding_backward<T, I>(table.grad_or_zeros().data<T>(), out.grad().data<T>(),
                                      ids.data<I>(), n, dim);
      });
    });
  });
  return out;
}

}  // namespace attn
