#include "layers/attention/core_attention.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "framework/autograd/tape.h"
#include "framework/kernels/cuda/cast.h"
#include "framework/ops/dispatch.h"
#include "framework/ops/matmul.h"
#include "layers/attention/attention_kernel.h"
#include "layers/attention/attention_kernel_cuda.h"
#include "layers/attention/row_intervals.h"

namespace attn {

namespace {

std::vector<int32_t> checked_cu_seqlens(const Tensor& cu, int64_t tokens, const char* name) {
  ATTN_CHECK(cu.dtype() == DType::kI32 && cu.ndim() == 1 && cu.size(0) >= 2,
             "core_attention: {} must be i32 [docs + 1], got {}", name, cu.str());
  std::vector<int32_t> v = cu.to_vector<int32_t>();
  if (v.front() != 0 || v.back() != tokens)
    ATTN_FAIL(kInput, "core_attention: {} must start at 0 and end at {} tokens, got {} .. {}", name,
              tokens, v.front(), v.back());
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] < v[i - 1])
      ATTN_FAIL(kInput, "core_attention: {} decreases at index {} ({} after {})", name, i, v[i],
                v[i - 1]);
  return v;
}

Tensor on_device(const Tensor& t, Device device) {
  return !t.defined() || t.device() == device ? t : t.to(device);
}

// The host-built index arrays of a problem, copied to the GPU once per call and kept alive by
// the backward closure. key_valid bytes travel in an i32 tensor (there is no u8 dtype).
struct DeviceIndices {
  Tensor cu_q, cu_k, lo, hi, valid;
};

DeviceIndices device_indices(const Tensor& cu_q, const Tensor& cu_k, const RowIntervals& rows,
                             Device device) {
  DeviceIndices d;
  d.cu_q = on_device(cu_q, device);
  d.cu_k = on_device(cu_k, device);
  d.lo = rows.lo.to(device);
  d.hi = rows.hi.to(device);
  if (!rows.valid.empty()) {
    const int64_t n = static_cast<int64_t>(rows.valid.size());
    Tensor host = Tensor::zeros({(n + 3) / 4}, DType::kI32);
    std::memcpy(host.raw(), rows.valid.data(), n);
    d.valid = host.to(device);
  }
  return d;
}

// The kernel's view of the GPU tensors (f32); the row intervals were built on the host.
cuda::AttentionProblemF32 cuda_problem(const Tensor& q, const Tensor& k, const Tensor& v,
                                       const Tensor& sink, const DeviceIndices& idx, double scale) {
  cuda::AttentionProblemF32 p;
  p.q = q.data<float>(), p.k = k.data<float>(), p.v = v.data<float>();
  p.heads = q.size(1), p.kv_heads = k.size(1), p.d = q.size(2), p.dv = v.size(2);
  p.tokens_q = q.size(0), p.tokens_k = k.size(0);
  p.cu_q = idx.cu_q.data<int32_t>(), p.cu_k = idx.cu_k.data<int32_t>();
  p.docs = idx.cu_q.numel() - 1;
  p.row_lo = idx.lo.data<int32_t>(), p.row_hi = idx.hi.data<int32_t>();
  p.key_valid = idx.valid.defined() ? static_cast<const uint8_t*>(idx.valid.raw()) : nullptr;
  p.sink = data_or_null<float>(sink);
  p.scale = static_cast<float>(scale);
  return p;
}

// Under bf16 matrix products (train.precision BF16) forward and backward run on tensor cores when
// the kernels cover the problem: d = dv in {64, 128} and no row statistics (they are f32-only).
bool use_tensor_cores(const cuda::AttentionProblemF32& p, const AttentionStatsRequest& want) {
  return cuda_matmul_precision() == MatmulPrecision::kBf16 && p.d == p.dv &&
         (p.d == 64 || p.d == 128) && !want.entropy && !want.prob_sq_sum && !want.first_token_mass;
}

Tensor to_bf16(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), DType::kBF16, x.device());
  cuda::cast_f32_to_bf16(y.data<uint16_t>(), x.data<float>(), x.numel());
  return y;
}

// The tensor-core problem over bf16 copies of q, k, v (same documents, masks and sink).
struct Bf16Operands {
  Tensor q, k, v;
  cuda::AttentionProblemBf16 problem;
};

Bf16Operands bf16_operands(const Tensor& q, const Tensor& k, const Tensor& v,
                           const cuda::AttentionProblemF32& p) {
  Bf16Operands o{to_bf16(q), to_bf16(k), to_bf16(v), {}};
  o.problem = p.with_operands(o.q.data<uint16_t>(), o.k.data<uint16_t>(), o.v.data<uint16_t>());
  return o;
}

// The op on the GPU: forward (+ key mass) now, the backward closure on the same device.
CoreAttentionResult core_attention_cuda(const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Tensor& cu_seqlens_q, const Tensor& cu_seqlens_k,
                                        const Tensor& sink, const RowIntervals& rows, double scale,
                                        const AttentionStatsRequest& want,
                                        CoreAttentionResult res) {
  const Device dev = q.device();
  const DeviceIndices idx = device_indices(cu_seqlens_q, cu_seqlens_k, rows, dev);
  const cuda::AttentionProblemF32 p = cuda_problem(q, k, v, sink, idx, scale);
  const AttentionForwardStats<float> st{
      data_or_null<float>(res.stats.entropy), data_or_null<float>(res.stats.entropy_normalized),
      data_or_null<float>(res.stats.prob_sq_sum), data_or_null<float>(res.stats.first_token_mass)};
  // The bf16 copies are made again in the backward rather than kept alive across the step.
  const bool tensor_cores = use_tensor_cores(p, want);
  if (tensor_cores)
    cuda::attention_forward_bf16(bf16_operands(q, k, v, p).problem, res.out.data<float>(),
                                 res.lse.data<float>());
  else
    cuda::attention_forward(p, res.out.data<float>(), res.lse.data<float>(), st);
  if (want.key_mass) {
    const Tensor w = on_device(want.key_mass_row_weights, dev);
    cuda::attention_key_mass(p, res.lse.data<float>(), data_or_null<float>(w),
                             res.stats.key_mass.data<float>());
  }
  if (!needs_grad({q, k, v, sink})) return res;

  // As on the CPU: the row entropy and the key mass are differentiable too (what the CUDA
  // kernels cannot send yet is refused in backward).
  std::vector<Tensor> outputs = {res.out};
  if (res.stats.entropy.defined()) outputs.push_back(res.stats.entropy);
  if (res.stats.key_mass.defined()) outputs.push_back(res.stats.key_mass);
  const Tensor out = res.out, lse = res.lse, entropy = res.stats.entropy;
  const Tensor key_mass = res.stats.key_mass;
  record("core_attention", outputs, [=] {
    const cuda::AttentionProblemF32 bp = cuda_problem(q, k, v, sink, idx, scale);
    Tensor dout = out.has_grad() ? out.grad() : Tensor::zeros(out.shape(), out.dtype(), dev);
    if (tensor_cores) {  // no statistics were asked, so no entropy gradient either
      const Bf16Operands b = bf16_operands(q, k, v, bp);
      cuda::attention_backward_bf16(
          b.problem, out.data<float>(), lse.data<float>(), to_bf16(dout).data<uint16_t>(),
          data_or_null<float>(grad_target(q)), data_or_null<float>(grad_target(k)),
          data_or_null<float>(grad_target(v)),
          sink.defined() ? data_or_null<float>(grad_target(sink)) : nullptr);
      return;
    }
    // Refused rather than dropped: the CUDA kernels have no dP term yet.
    ATTN_CHECK(!(key_mass.defined() && key_mass.has_grad()),
               "core_attention: the gradient of the key mass is CPU-only so far");
    AttentionBackwardExtras<float> extras;
    if (entropy.defined() && entropy.has_grad()) {
      // Refused rather than dropped: the CUDA kernels do not yet send the entropy's sink term.
      ATTN_CHECK(!sink.defined(),
                 "core_attention: the gradient of the row entropy with a sink is CPU-only so far");
      extras.entropy_grad = entropy.grad().data<float>();
      extras.entropy = entropy.data<float>();
    }
    cuda::attention_backward(
        bp, out.data<float>(), lse.data<float>(), dout.data<float>(),
        data_or_null<float>(grad_target(q)), data_or_null<float>(grad_target(k)),
        data_or_null<float>(grad_target(v)),
        sink.defined() ? data_or_null<float>(grad_target(sink)) : nullptr, extras);
  });
  return res;
}

// The CPU kernel's view of checked tensors; row intervals and cu_seqlens outlive the call.
template <typename T>
AttentionProblem<T> cpu_problem(const Tensor& q, const Tensor& k, const Tensor& v,
                                const Tensor& cu_q, const Tensor& cu_k, const Tensor& sink,
                                const RowIntervals& rows, double scale,
                                const CoreAttentionOptions& options) {
  AttentionProblem<T> p;
  p.q = q.data<T>(), p.k = k.data<T>(), p.v = v.data<T>();
  p.heads = q.size(1), p.kv_heads = k.size(1), p.d = q.size(2), p.dv = v.size(2);
  p.cu_q = cu_q.data<int32_t>(), p.cu_k = cu_k.data<int32_t>();
  p.docs = cu_q.numel() - 1;
  p.row_lo = rows.lo.data<int32_t>(), p.row_hi = rows.hi.data<int32_t>();
  p.key_valid = rows.valid.empty() ? nullptr : rows.valid.data();
  p.sink = data_or_null<T>(sink);
  p.scale = T(scale);
  p.block_q = options.block_q, p.block_k = options.block_k;
  return p;
}

}  // namespace

CoreAttentionGrads core_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                           const Tensor& cu_seqlens_q, const Tensor& cu_seqlens_k,
                                           const CoreAttentionOptions& options, const Tensor& out,
                                           const Tensor& lse, const Tensor& dout) {
  detail::check_cpu("core_attention_backward",
                    {q, k, v, cu_seqlens_q, cu_seqlens_k, out, lse, dout});
  detail::check_same_dtype("core_attention_backward", {q, k, v, out, lse, dout});
  ATTN_CHECK(q.ndim() == 3 && k.ndim() == 3 && v.ndim() == 3 && k.size(2) == q.size(2) &&
                 v.size(0) == k.size(0) && v.size(1) == k.size(1) && k.size(1) > 0 &&
                 q.size(1) % k.size(1) == 0,
             "core_attention_backward: q {}, k {}, v {} do not match", q.str(), k.str(), v.str());
  const int64_t tq = q.size(0), heads = q.size(1), dv = v.size(2);
  ATTN_CHECK(out.shape() == Shape({tq, heads, dv}) && dout.shape() == out.shape() &&
                 lse.shape() == Shape({tq, heads}),
             "core_attention_backward: out {}, lse {}, dout {} do not match q {}", out.str(),
             lse.str(), dout.str(), q.str());
  ATTN_CHECK(!options.stats.entropy && !options.stats.prob_sq_sum &&
                 !options.stats.first_token_mass && !options.stats.key_mass,
             "core_attention_backward: statistics have no tape-free backward");
  const std::vector<int32_t> cu_q = checked_cu_seqlens(cu_seqlens_q, tq, "cu_seqlens_q");
  const std::vector<int32_t> cu_k = checked_cu_seqlens(cu_seqlens_k, k.size(0), "cu_seqlens_k");
  ATTN_CHECK(cu_q.size() == cu_k.size(), "core_attention_backward: {} query but {} key documents",
             cu_q.size() - 1, cu_k.size() - 1);
  const RowIntervals rows = row_intervals(options.mask, cu_q, cu_k);
  const double scale = options.scale > 0 ? options.scale : 1.0 / std::sqrt(double(q.size(2)));
  CoreAttentionGrads g{Tensor::zeros(q.shape(), q.dtype()), Tensor::zeros(k.shape(), k.dtype()),
                       Tensor::zeros(v.shape(), v.dtype())};
  detail::dispatch_float(q, "core_attention_backward", [&](auto tag) {
    using T = decltype(tag);
    const auto p =
        cpu_problem<T>(q, k, v, cu_seqlens_q, cu_seqlens_k, Tensor(), rows, scale, options);
    cpu::attention_backward<T>(p, out.data<T>(), lse.data<T>(), dout.data<T>(), g.dq.data<T>(),
                               g.dk.data<T>(), g.dv.data<T>(), nullptr, {});
  });
  return g;
}

CoreAttentionResult core_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                   const Tensor& cu_seqlens_q, const Tensor& cu_seqlens_k,
                                   const Tensor& sink, const CoreAttentionOptions& options) {
  // cu_seqlens, segment ids and kinds may live on either device: they are read on the host.
  const bool on_gpu = q.device().is_cuda();
  if (on_gpu) {
    detail::check_same_device("core_attention", {q, k, v, sink});
    ATTN_CHECK(q.dtype() == DType::kF32, "core_attention: CUDA attention is f32 only, got {}",
               q.str());
  } else {
    detail::check_cpu("core_attention", {q, k, v, cu_seqlens_q, cu_seqlens_k, sink});
  }
  detail::check_same_dtype("core_attention", {q, k, v, sink});
  ATTN_CHECK(q.ndim() == 3 && k.ndim() == 3 && v.ndim() == 3,
             "core_attention: q, k, v must be [tokens, heads, dim], got {}, {}, {}", q.str(),
             k.str(), v.str());
  const int64_t tq = q.size(0), heads = q.size(1), d = q.size(2);
  const int64_t tk = k.size(0), kv_heads = k.size(1), dv = v.size(2);
  ATTN_CHECK(k.size(2) == d && v.size(0) == tk && v.size(1) == kv_heads,
             "core_attention: k {} and v {} do not match q {}", k.str(), v.str(), q.str());
  ATTN_CHECK(kv_heads > 0 && heads % kv_heads == 0,
             "core_attention: kv_heads {} must divide "
             "heads {}",
             kv_heads, heads);
  ATTN_CHECK(!sink.defined() || (sink.ndim() == 1 && sink.size(0) == heads),
             "core_attention: sink must be [{}], got {}", heads, sink.str());
  ATTN_CHECK(options.block_q > 0 && options.block_k > 0, "core_attention: block sizes {} x {}",
             options.block_q, options.block_k);
  const std::vector<int32_t> cu_q = checked_cu_seqlens(cu_seqlens_q, tq, "cu_seqlens_q");
  const std::vector<int32_t> cu_k = checked_cu_seqlens(cu_seqlens_k, tk, "cu_seqlens_k");
  ATTN_CHECK(cu_q.size() == cu_k.size(),
             "core_attention: {} query documents but {} key "
             "documents",
             cu_q.size() - 1, cu_k.size() - 1);
  const RowIntervals rows = row_intervals(options.mask, cu_q, cu_k);
  const AttentionStatsRequest& want = options.stats;
  ATTN_CHECK(!want.key_mass_row_weights.defined() ||
                 want.key_mass_row_weights.shape() == Shape({tq, heads}),
             "core_attention: key_mass_row_weights must be [{}, {}]", tq, heads);

  CoreAttentionResult res;
  const Device dev = q.device();
  res.out = Tensor::empty({tq, heads, dv}, q.dtype(), dev);
  res.lse = Tensor::empty({tq, heads}, q.dtype(), dev);
  auto stat = [&](bool on) { return on ? Tensor::empty({tq, heads}, q.dtype(), dev) : Tensor(); };
  res.stats.entropy = stat(want.entropy);
  res.stats.entropy_normalized = stat(want.entropy);
  res.stats.prob_sq_sum = stat(want.prob_sq_sum);
  res.stats.first_token_mass = stat(want.first_token_mass);
  if (want.key_mass) res.stats.key_mass = Tensor::empty({tk, heads}, q.dtype(), dev);

  const double scale = options.scale > 0 ? options.scale : 1.0 / std::sqrt(double(d));
  if (on_gpu)
    return core_attention_cuda(q, k, v, cu_seqlens_q, cu_seqlens_k, sink, rows, scale, want,
                               std::move(res));
  const Tensor cu_q_t = cu_seqlens_q, cu_k_t = cu_seqlens_k;
  auto problem = [=](auto tag) {
    return cpu_problem<decltype(tag)>(q, k, v, cu_q_t, cu_k_t, sink, rows, scale, options);
  };
  detail::dispatch_float(q, "core_attention", [&](auto tag) {
    using T = decltype(tag);
    AttentionForwardStats<T> st{
        data_or_null<T>(res.stats.entropy), data_or_null<T>(res.stats.entropy_normalized),
        data_or_null<T>(res.stats.prob_sq_sum), data_or_null<T>(res.stats.first_token_mass)};
    const auto p = problem(tag);
    cpu::attention_forward<T>(p, res.out.data<T>(), res.lse.data<T>(), st);
    if (want.key_mass)
      cpu::attention_key_mass<T>(p, res.lse.data<T>(), data_or_null<T>(want.key_mass_row_weights),
                                 res.stats.key_mass.data<T>());
  });
  if (!needs_grad({q, k, v, sink})) return res;

  // The row entropy (sink column included) and the key mass are differentiable too: attention
  // losses defined on them send their gradients into the core backward (dS and dP terms).
  std::vector<Tensor> outputs = {res.out};
  if (res.stats.entropy.defined()) outputs.push_back(res.stats.entropy);
  if (res.stats.key_mass.defined()) outputs.push_back(res.stats.key_mass);
  const Tensor out = res.out, lse = res.lse, entropy = res.stats.entropy;
  const Tensor key_mass = res.stats.key_mass, mass_weights = want.key_mass_row_weights;
  record("core_attention", outputs, [=] {
    detail::dispatch_float(q, "core_attention", [&](auto tag) {
      using T = decltype(tag);
      const auto p = problem(tag);
      Tensor dout = out.has_grad() ? out.grad() : Tensor::zeros(out.shape(), out.dtype());
      AttentionBackwardExtras<T> extras;
      if (entropy.defined() && entropy.has_grad()) {
        extras.entropy_grad = entropy.grad().data<T>();
        extras.entropy = entropy.data<T>();
      }
      if (key_mass.defined() && key_mass.has_grad()) {
        extras.key_mass_grad = key_mass.grad().data<T>();
        extras.key_mass_row_weights = data_or_null<T>(mass_weights);
      }
      cpu::attention_backward<T>(
          p, out.data<T>(), lse.data<T>(), dout.data<T>(), data_or_null<T>(grad_target(q)),
          data_or_null<T>(grad_target(k)), data_or_null<T>(grad_target(v)),
          sink.defined() ? data_or_null<T>(grad_target(sink)) : nullptr, extras);
    });
  });
  return res;
}

}  // namespace attn
