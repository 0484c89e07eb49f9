// The bf16 tensor-core attention kernels (attention_forward_bf16, attention_backward_bf16) against
// the f32 CUDA kernels on the same bf16-rounded inputs, so Q K^T, the softmax, dO V^T and Delta see
// identical values and only accumulation order inside the mma (f32, ~1e-6 relative) and the
// bf16 rounding of the operands the kernels form themselves differ.
// Forward: P is rounded to bf16 (8 bits: ~2e-3 relative per weight) before P V. O is a convex
// mix of V rows, so its error is at most ~2e-3 max|V| per element, well inside 2e-2 * max|O|
// (max|O| is O(1) here); a fragment or mask indexing error moves whole elements by O(max|O|). lse
// comes from the f32 P (never rounded) and the f32 scores: only summation order differs, far
// below 1e-2 absolute.
// Backward: P (in dV = P^T dO) and dS (in dK = dS^T Q, dQ = dS K) are rounded to bf16, at most
// 2^-9 relative per term. An element dominated by a few terms is then off by up to ~2^-9 of its
// value, one summing many terms of either sign by ~2^-9 sqrt(N) times a typical term; either way
// 2-3e-3 of the tensor's largest |gradient| in the worst element (the scale: the increment over
// the 0.5 the buffers start at, which checks accumulation). 1e-2 of the scale leaves a ~3x margin;
// an indexing or masking error is O(1) of it. dsink only sums exp(z - lse) Delta with Delta
// from identical products: 1e-4 of its scale.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include <fmt/format.h>

#include "framework/core/bf16.h"
#include "framework/core/error.h"
#include "layers/attention/attention_kernel_cuda.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;

enum class Rows { kFull, kCausal, kWindow, kRandom, kEmpty };

struct Bf16Case {
  std::string name;
  std::vector<int32_t> q_lens, k_lens;
  int64_t heads = 2, kv_heads = 1, d = 64;
  bool sink = false;
  Rows rows = Rows::kCausal;
  int32_t window = 0;
};

// Every mask reaches the kernels as row intervals plus key validity; kRandom (random intervals,
// empty rows, invalid keys) stands for segment masks and padding.
std::vector<Bf16Case> bf16_cases() {
  std::vector<Bf16Case> cases;
  auto add = [&](std::string name, std::vector<int32_t> q, std::vector<int32_t> k, int64_t heads,
                 int64_t kv_heads, int64_t d, bool sink, Rows rows, int32_t window = 0) {
    cases.push_back(
        {std::move(name), std::move(q), std::move(k), heads, kv_heads, d, sink, rows, window});
  };
  for (int64_t d : {64, 128}) {
    const std::string dn = fmt::format(" d {}", d);
    add("causal tile edges" + dn, {1, 63, 64, 65, 200}, {1, 63, 64, 65, 200}, 4, 2, d, false,
        Rows::kCausal);
    add("causal gqa4 sink" + dn, {130, 7}, {130, 7}, 4, 1, d, true, Rows::kCausal);
    add("causal q < k" + dn, {20, 70}, {100, 70}, 2, 2, d, false, Rows::kCausal);
    add("causal q > k" + dn, {100, 50}, {40, 50}, 2, 1, d, true, Rows::kCausal);
    add("full q != k" + dn, {30, 100}, {90, 130}, 2, 2, d, true, Rows::kFull);
    add("window 17" + dn, {300}, {300}, 3, 1, d, true, Rows::kWindow, 17);
    add("window 1" + dn, {70}, {70}, 1, 1, d, false, Rows::kWindow, 1);
    add("random rows and invalid keys" + dn, {5, 129, 77}, {5, 129, 77}, 3, 1, d, false,
        Rows::kRandom);
    add("random rows sink" + dn, {64, 200}, {64, 200}, 2, 1, d, true, Rows::kRandom);
    add("empty query docs" + dn, {0, 40, 0}, {3, 70, 4}, 2, 1, d, false, Rows::kCausal);
    add("empty rows" + dn, {33, 64}, {33, 64}, 2, 1, d, true, Rows::kEmpty);
  }
  return cases;
}

// Host bf16 bits of random normals and their f32 values (the f32 kernel's inputs).
Tensor bf16_on_gpu(const Shape& shape, uint64_t seed, Tensor& rounded_f32) {
  const std::vector<float> x =
      test::random_normal(shape, seed, DType::kF32, 1.0, false).to_vector<float>();
  std::vector<uint16_t> bits(x.size());
  std::vector<float> back(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    bits[i] = float_to_bf16(x[i]);
    back[i] = bf16_to_float(bits[i]);
  }
  rounded_f32 = Tensor::from_vector<float>(shape, back).to(Device::cuda());
  Tensor host = Tensor::empty(shape, DType::kBF16);
  std::memcpy(host.raw(), bits.data(), bits.size() * sizeof(uint16_t));
  return host.to(Device::cuda());
}

// The device tensors of a case and the two problem views over them (f32 pf, bf16 pb).
struct Bf16Problem {
  int64_t tq = 0, tk = 0;
  Tensor cu_q, cu_k, lo, hi, valid, q, k, v, qf, kf, vf, sink;
  cuda::AttentionProblemF32 pf;
  cuda::AttentionProblemBf16 pb;
};

Bf16Problem make_problem(const Bf16Case& c, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  const int64_t docs = static_cast<int64_t>(c.q_lens.size());
  std::vector<int32_t> cu_q{0}, cu_k{0};
  for (int64_t b = 0; b < docs; ++b) {
    cu_q.push_back(cu_q.back() + c.q_lens[b]);
    cu_k.push_back(cu_k.back() + c.k_lens[b]);
  }
  Bf16Problem pr;
  const int64_t tq = pr.tq = cu_q.back(), tk = pr.tk = cu_k.back();
  // Row intervals like core_attention's (bottom-right aligned), or random ones with empty rows
  // and invalid keys.
  std::vector<int32_t> lo(tq, 0), hi(tq, -1);
  std::vector<uint8_t> valid;
  if (c.rows == Rows::kRandom) {
    valid.resize(tk);
    for (uint8_t& v : valid) v = rng() % 8 != 0;
  }
  for (int64_t b = 0; b < docs; ++b) {
    const int32_t klen = c.k_lens[b], offset = klen - c.q_lens[b];
    for (int32_t i = 0; i < c.q_lens[b]; ++i) {
      const int64_t t = cu_q[b] + i;
      if (c.rows == Rows::kEmpty || klen == 0) continue;
      if (c.rows == Rows::kRandom) {
        const int32_t a = static_cast<int32_t>(rng() % klen);
        const int32_t e = static_cast<int32_t>(rng() % klen);
        lo[t] = std::min(a, e);
        hi[t] = rng() % 10 == 0 ? lo[t] - 1 : std::max(a, e);  // some rows see nothing
        continue;
      }
      hi[t] = c.rows == Rows::kFull ? klen - 1 : std::min(klen - 1, i + offset);
      if (c.rows == Rows::kWindow) lo[t] = std::max(0, hi[t] - c.window + 1);
    }
  }
  const Device gpu = Device::cuda();
  pr.cu_q = Tensor::from_vector<int32_t>({docs + 1}, cu_q).to(gpu);
  pr.cu_k = Tensor::from_vector<int32_t>({docs + 1}, cu_k).to(gpu);
  pr.lo = Tensor::from_vector<int32_t>({tq}, lo).to(gpu);
  pr.hi = Tensor::from_vector<int32_t>({tq}, hi).to(gpu);
  if (!valid.empty()) {  // bytes in an i32 tensor, as core_attention does
    Tensor host = Tensor::zeros({(tk + 3) / 4}, DType::kI32);
    std::memcpy(host.raw(), valid.data(), valid.size());
    pr.valid = host.to(gpu);
  }
  pr.q = bf16_on_gpu({tq, c.heads, c.d}, seed * 10 + 1, pr.qf);
  pr.k = bf16_on_gpu({tk, c.kv_heads, c.d}, seed * 10 + 2, pr.kf);
  pr.v = bf16_on_gpu({tk, c.kv_heads, c.d}, seed * 10 + 3, pr.vf);
  if (c.sink)
    pr.sink = test::random_normal({c.heads}, seed * 10 + 4, DType::kF32, 1.0, false).to(gpu);

  cuda::AttentionProblemF32& pf = pr.pf;
  pf.q = pr.qf.data<float>(), pf.k = pr.kf.data<float>(), pf.v = pr.vf.data<float>();
  pf.heads = c.heads, pf.kv_heads = c.kv_heads, pf.d = pf.dv = c.d;
  pf.tokens_q = tq, pf.tokens_k = tk;
  pf.cu_q = pr.cu_q.data<int32_t>(), pf.cu_k = pr.cu_k.data<int32_t>(), pf.docs = docs;
  pf.row_lo = pr.lo.data<int32_t>(), pf.row_hi = pr.hi.data<int32_t>();
  pf.key_valid = pr.valid.defined() ? static_cast<const uint8_t*>(pr.valid.raw()) : nullptr;
  pf.sink = c.sink ? pr.sink.data<float>() : nullptr;
  pf.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.d)));
  pr.pb = pf.with_operands(static_cast<const uint16_t*>(pr.q.raw()),
                           static_cast<const uint16_t*>(pr.k.raw()),
                           static_cast<const uint16_t*>(pr.v.raw()));
  return pr;
}

// NaN-filled outputs: every element must be written.
Tensor nan_buffer(const Shape& shape) {
  return Tensor::full(shape, std::nan(""), DType::kF32, Device::cuda());
}

void compare_bf16_forward(const Bf16Case& c, uint64_t seed) {
  SCOPED_TRACE(c.name);
  const Bf16Problem pr = make_problem(c, seed);
  const Tensor want_o = nan_buffer({pr.tq, c.heads, c.d}), want_lse = nan_buffer({pr.tq, c.heads});
  const Tensor got_o = nan_buffer({pr.tq, c.heads, c.d}), got_lse = nan_buffer({pr.tq, c.heads});
  cuda::attention_forward(pr.pf, want_o.data<float>(), want_lse.data<float>(), {});
  cuda::attention_forward_bf16(pr.pb, got_o.data<float>(), got_lse.data<float>());

  const std::vector<float> wo = want_o.to_vector<float>(), go = got_o.to_vector<float>();
  float o_max = 0.0f;
  for (float w : wo) o_max = std::max(o_max, std::abs(w));
  for (size_t i = 0; i < wo.size(); ++i)
    ASSERT_NEAR(go[i], wo[i], 2e-2f * o_max) << "out element " << i << " of " << wo.size();
  const std::vector<float> wl = want_lse.to_vector<float>(), gl = got_lse.to_vector<float>();
  for (size_t i = 0; i < wl.size(); ++i) {
    if (!std::isfinite(wl[i])) {
      ASSERT_EQ(gl[i], wl[i]) << "lse element " << i;  // +inf: the row sees nothing
      continue;
    }
    ASSERT_NEAR(gl[i], wl[i], 1e-2f) << "lse element " << i;
  }
  if (c.rows == Rows::kEmpty) {
    for (float x : gl) ASSERT_EQ(x, std::numeric_limits<float>::infinity());
    for (float x : go) ASSERT_EQ(x, 0.0f);
  }
}

TEST_F(Cuda, AttentionForwardBf16MatchesF32Kernel) {
  uint64_t n = 0;
  for (const Bf16Case& c : bf16_cases()) compare_bf16_forward(c, 1300 + n++);
}

TEST_F(Cuda, AttentionForwardBf16RejectsOtherHeadDims) {
  cuda::AttentionProblemBf16 p;
  p.heads = p.kv_heads = 1, p.docs = 1;
  p.d = p.dv = 96;
  EXPECT_THROW(cuda::attention_forward_bf16(p, nullptr, nullptr), Error) << "d 96";
  p.d = 64, p.dv = 128;
  EXPECT_THROW(cuda::attention_forward_bf16(p, nullptr, nullptr), Error) << "d != dv";
}

// ---- bf16 tensor-core backward ----

constexpr float kGradInit = 0.5f;  // gradient buffers start here on both sides

struct Grads {
  Tensor dq, dk, dv, dsink;  // dsink undefined without a sink
};

Grads init_grads(const Bf16Case& c, const Bf16Problem& pr) {
  auto full = [](const Shape& shape) {
    return Tensor::full(shape, kGradInit, DType::kF32, Device::cuda());
  };
  Grads g{full({pr.tq, c.heads, c.d}), full({pr.tk, c.kv_heads, c.d}),
          full({pr.tk, c.kv_heads, c.d}), Tensor()};
  if (c.sink) g.dsink = full({c.heads});
  return g;
}

float* ptr(const Tensor& t) {
  return t.defined() ? t.data<float>() : nullptr;
}

// The f32 forward on the rounded inputs, its out/lse fed to both backwards with the same dO.
struct Bf16Backward {
  Bf16Problem pr;
  Tensor out, lse, dout, dout_f32;
};

Bf16Backward make_backward(const Bf16Case& c, uint64_t seed) {
  Bf16Backward b;
  b.pr = make_problem(c, seed);
  b.out = nan_buffer({b.pr.tq, c.heads, c.d});
  b.lse = nan_buffer({b.pr.tq, c.heads});
  b.dout = bf16_on_gpu({b.pr.tq, c.heads, c.d}, seed * 10 + 5, b.dout_f32);
  cuda::attention_forward(b.pr.pf, b.out.data<float>(), b.lse.data<float>(), {});
  return b;
}

void run_backward_bf16(const Bf16Backward& b, const Grads& g) {
  cuda::attention_backward_bf16(b.pr.pb, b.out.data<float>(), b.lse.data<float>(),
                                static_cast<const uint16_t*>(b.dout.raw()), ptr(g.dq), ptr(g.dk),
                                ptr(g.dv), ptr(g.dsink));
}

void expect_grad_close(const Tensor& want_t, const Tensor& got_t, float tol, const char* what) {
  ASSERT_EQ(want_t.defined(), got_t.defined()) << what;
  if (!want_t.defined()) return;
  const std::vector<float> want = want_t.to_vector<float>(), got = got_t.to_vector<float>();
  float scale = 0.0f;  // the largest |gradient| (the accumulated increment)
  for (float w : want) scale = std::max(scale, std::abs(w - kGradInit));
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * scale + 1e-6f)
        << what << " element " << i << " of " << want.size() << ", scale " << scale;
}

void compare_bf16_backward(const Bf16Case& c, uint64_t seed) {
  SCOPED_TRACE(c.name);
  const Bf16Backward b = make_backward(c, seed);
  const Grads want = init_grads(c, b.pr), got = init_grads(c, b.pr);
  cuda::attention_backward(b.pr.pf, b.out.data<float>(), b.lse.data<float>(),
                           b.dout_f32.data<float>(), ptr(want.dq), ptr(want.dk), ptr(want.dv),
                           ptr(want.dsink), {});
  run_backward_bf16(b, got);
  expect_grad_close(want.dq, got.dq, 1e-2f, "dq");
  expect_grad_close(want.dk, got.dk, 1e-2f, "dk");
  expect_grad_close(want.dv, got.dv, 1e-2f, "dv");
  expect_grad_close(want.dsink, got.dsink, 1e-4f, "dsink");
}

TEST_F(Cuda, AttentionBackwardBf16MatchesF32Kernel) {
  uint64_t n = 0;
  for (const Bf16Case& c : bf16_cases()) compare_bf16_backward(c, 1700 + n++);
}

// Two runs give the same bits, and each gradient is the same when asked for alone (the others
// null).
TEST_F(Cuda, AttentionBackwardBf16IsDeterministic) {
  for (int64_t d : {64, 128}) {
    const Bf16Case c{"repeat", {200, 37, 300}, {200, 37, 300}, 4, 2, d, true, Rows::kRandom, 0};
    SCOPED_TRACE(d);
    const Bf16Backward b = make_backward(c, 77);
    const Grads first = init_grads(c, b.pr), second = init_grads(c, b.pr);
    const Grads alone = init_grads(c, b.pr);
    run_backward_bf16(b, first);
    run_backward_bf16(b, second);
    run_backward_bf16(b, {alone.dq, Tensor(), Tensor(), Tensor()});
    run_backward_bf16(b, {Tensor(), alone.dk, Tensor(), Tensor()});
    run_backward_bf16(b, {Tensor(), Tensor(), alone.dv, Tensor()});
    run_backward_bf16(b, {Tensor(), Tensor(), Tensor(), alone.dsink});
    const std::vector<std::pair<const Grads*, const char*>> others{{&second, "second run"},
                                                                   {&alone, "alone"}};
    for (const auto& [other, what] : others) {
      const Tensor a[] = {first.dq, first.dk, first.dv, first.dsink};
      const Tensor o[] = {other->dq, other->dk, other->dv, other->dsink};
      for (int t = 0; t < 4; ++t) {
        const std::vector<float> x = a[t].to_vector<float>(), y = o[t].to_vector<float>();
        ASSERT_EQ(x.size(), y.size());
        ASSERT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0)
            << what << ", gradient " << t;
      }
    }
  }
}

TEST_F(Cuda, AttentionBackwardBf16RejectsOtherHeadDims) {
  cuda::AttentionProblemBf16 p;
  p.heads = p.kv_heads = 1, p.docs = 1;
  p.d = p.dv = 32;
  EXPECT_THROW(cuda::attention_backward_bf16(p, nullptr, nullptr, nullptr, nullptr, nullptr,
                                             nullptr, nullptr),
               Error)
      << "d 32";
  p.d = 128, p.dv = 64;
  EXPECT_THROW(cuda::attention_backward_bf16(p, nullptr, nullptr, nullptr, nullptr, nullptr,
                                             nullptr, nullptr),
               Error)
      << "d != dv";
}

}  // namespace
}  // namespace attn
