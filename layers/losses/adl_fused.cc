#include "layers/losses/adl_fused.h"

#include <cmath>
#include <memory>
#include <vector>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/dispatch.h"
#include "framework/ops/transfer.h"
#include "layers/attention/row_intervals.h"
#include "layers/losses/kernels/adl_kernel.h"

namespace attn {

namespace {

// Host state of one call, shared by the forward and its backward closure.
struct FusedCall {
  std::vector<int32_t> cu;
  RowIntervals rows;
  double scale = 1;
  int64_t block_q = 64, block_k = 128;
  cpu::AdlKernelOptions options;
  cpu::AdlSaved saved;
};

template <typename T>
AttentionProblem<T> problem(const FusedCall& c, const Tensor& q, const Tensor& k,
                            const Tensor& sink) {
  AttentionProblem<T> p;
  p.q = q.data<T>(), p.k = k.data<T>();
  p.heads = q.size(1), p.kv_heads = k.size(1), p.d = q.size(2);
  p.tokens_q = p.tokens_k = q.size(0);
  p.cu_q = p.cu_k = c.cu.data();
  p.docs = static_cast<int64_t>(c.cu.size()) - 1;
  p.row_lo = c.rows.lo.data<int32_t>(), p.row_hi = c.rows.hi.data<int32_t>();
  p.key_valid = c.rows.valid.empty() ? nullptr : c.rows.valid.data();
  p.sink = data_or_null<T>(sink);
  p.scale = static_cast<T>(c.scale);
  p.block_q = c.block_q, p.block_k = c.block_k;
  return p;
}

}  // namespace

Tensor adl_fused(const Tensor& q, const Tensor& k, const Tensor& sink, const Tensor& lse,
                 const Tensor& cu_seqlens, const CoreAttentionOptions& options,
                 const AdlOptions& adl) {
  if (q.device().is_cuda()) {
    const Device cpu = Device::cpu();
    return transfer(
        adl_fused(transfer(q, cpu), transfer(k, cpu), sink.defined() ? transfer(sink, cpu) : sink,
                  lse.to(cpu), cu_seqlens, options, adl),
        q.device());
  }
  ATTN_CHECK(q.ndim() == 3 && k.ndim() == 3 && q.size(0) == k.size(0) && q.size(2) == k.size(2) &&
                 k.size(1) > 0 && q.size(1) % k.size(1) == 0,
             "adl_fused: q {}, k {}", q.str(), k.str());
  ATTN_CHECK(!sink.defined() || sink.numel() == q.size(1), "adl_fused: sink {}", sink.str());
  ATTN_CHECK(lse.shape() == Shape({q.size(0), q.size(1)}) && lse.dtype() == q.dtype() &&
                 k.dtype() == q.dtype() && (!sink.defined() || sink.dtype() == q.dtype()),
             "adl_fused: lse {} must be [tokens, heads] of q {}", lse.str(), q.str());
  ATTN_CHECK(adl.theta > 0 && adl.eps > 0, "adl_fused: theta {} and eps {} must be positive",
             adl.theta, adl.eps);
  ATTN_CHECK(options.block_q > 0, "adl_fused: block_q {}", options.block_q);
  auto call = std::make_shared<FusedCall>();
  call->cu = cu_seqlens.to_vector<int32_t>();
  ATTN_CHECK(call->cu.size() >= 2 && call->cu.front() == 0 && call->cu.back() == q.size(0),
             "adl_fused: cu_seqlens {} does not cover {} tokens", cu_seqlens.str(), q.size(0));
  call->rows = row_intervals(options.mask, call->cu, call->cu);
  call->scale = options.scale > 0 ? options.scale : 1.0 / std::sqrt(static_cast<double>(q.size(2)));
  call->block_q = options.block_q, call->block_k = options.block_k;
  call->options = {adl.theta, adl.eps, adl.pairwise};
  const int64_t rows = q.size(0);
  double total = 0;
  detail::dispatch_float(q, "adl_fused", [&](auto tag) {
    using T = decltype(tag);
    total = cpu::adl_forward<T>(problem<T>(*call, q, k, sink), lse.data<T>(), call->options,
                                call->saved);
  });
  Tensor y =
      Tensor::full({}, rows > 0 ? total / static_cast<double>(rows) : 0.0, q.dtype(), q.device());
  if (!needs_grad({q, k, sink})) return y;
  record("adl_fused", {y}, [call, q, k, sink, lse, y, rows] {
    const double g = y.grad().item() / static_cast<double>(rows);
    const Tensor dq = grad_target(q), dk = grad_target(k);
    const Tensor dsink = sink.defined() ? grad_target(sink) : Tensor();
    detail::dispatch_float(q, "adl_fused", [&](auto tag) {
      using T = decltype(tag);
      cpu::adl_backward<T>(problem<T>(*call, q, k, sink), lse.data<T>(), call->options, call->saved,
                           g, data_or_null<T>(dq), data_or_null<T>(dk), data_or_null<T>(dsink));
    });
  });
  return y;
}

}  // namespace attn
