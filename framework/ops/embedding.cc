#include "framework/ops/embedding.h"

#include <algorithm>
#include <numeric>

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/embedding.h"
#include "framework/kernels/cuda/embedding.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {

// The CUDA backward's plan, one i64 tensor [order (n) | segment_ids (S) | segment_starts (S+1)]:
// token positions stably sorted by id, then each distinct id with the range of its positions.
// Built on the host from the ids the range check already copied there, so the device sums
// every id's rows in token order without atomics (cuda::embedding_backward).
struct EmbeddingPlan {
  std::vector<int64_t> values;
  int64_t segments = 0;
};

template <typename I>
EmbeddingPlan plan_backward(const I* ids, int64_t n) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [ids](int64_t a, int64_t b) { return ids[a] < ids[b]; });
  std::vector<int64_t> segment_ids, starts;
  for (int64_t k = 0; k < n; ++k) {
    if (k == 0 || ids[order[k]] != ids[order[k - 1]]) {
      segment_ids.push_back(static_cast<int64_t>(ids[order[k]]));
      starts.push_back(k);
    }
  }
  starts.push_back(n);
  EmbeddingPlan plan;
  plan.segments = static_cast<int64_t>(segment_ids.size());
  plan.values = std::move(order);
  plan.values.insert(plan.values.end(), segment_ids.begin(), segment_ids.end());
  plan.values.insert(plan.values.end(), starts.begin(), starts.end());
  return plan;
}

}  // namespace

// Ids may live on the CPU or on the table's device. The range check (and the CUDA backward's
// plan) reads them on the host, so ids on a GPU cost one device-to-host copy.
Tensor embedding(const Tensor& table, const Tensor& ids) {
  ATTN_CHECK(table.ndim() == 2, "embedding: table must be [vocab, dim], got {}", table.str());
  ATTN_CHECK(ids.ndim() < kMaxDims, "embedding: ids {} leave no room for the feature dim",
             ids.str());
  ATTN_CHECK(ids.device().is_cpu() || ids.device() == table.device(),
             "embedding: ids on {} for a table on {}", ids.device().str(), table.device().str());
  const bool on_gpu = table.device().is_cuda();
  ATTN_CHECK(!on_gpu || table.dtype() == DType::kF32, "embedding: CUDA tables are f32 only, got {}",
             table.str());
  const int64_t vocab = table.size(0), dim = table.size(1), n = ids.numel();
  const Tensor host_ids = ids.to(Device::cpu());
  detail::dispatch_index(host_ids, "embedding", [&](auto itag) {
    using I = decltype(itag);
    const I* p = host_ids.data<I>();
    for (int64_t t = 0; t < n; ++t)
      if (p[t] < 0 || p[t] >= vocab)
        ATTN_FAIL(kInput, "embedding: id {} at position {} is outside the vocabulary [0, {})",
                  static_cast<int64_t>(p[t]), t, vocab);
  });
  std::vector<int64_t> out_dims = ids.shape().vec();
  out_dims.push_back(dim);
  Tensor out = Tensor::empty(Shape(out_dims), table.dtype(), table.device());
  if (on_gpu) {
    const Tensor device_ids = ids.to(table.device());
    detail::dispatch_index(ids, "embedding", [&](auto itag) {
      using I = decltype(itag);
      cuda::embedding_forward(out.data<float>(), device_ids.data<I>(), table.data<float>(), n, dim);
    });
    if (!needs_grad({table})) return out;
    EmbeddingPlan host_plan;
    detail::dispatch_index(host_ids, "embedding", [&](auto itag) {
      using I = decltype(itag);
      host_plan = plan_backward(host_ids.data<I>(), n);
    });
    const int64_t segments = host_plan.segments;
    const Tensor plan = Tensor::from_vector<int64_t>(
        {static_cast<int64_t>(host_plan.values.size())}, host_plan.values, table.device());
    record("embedding", {out}, [table, plan, out, n, segments, dim] {
      const int64_t* p = plan.data<int64_t>();
      cuda::embedding_backward(table.grad_or_zeros().data<float>(), out.grad().data<float>(), p,
                               p + n, p + n + segments, segments, dim);
    });
    return out;
  }
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
