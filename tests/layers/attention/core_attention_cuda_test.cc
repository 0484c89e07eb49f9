// Core attention on CUDA against the same op on the CPU (f32, same inputs): forward out, lse,
// every fused statistic and key_mass, and the gradients of q, k, v and the sink, including the
// entropy-loss path. Gradient buffers start at 0.5 on both sides, so accumulation is checked.
// Tolerance: 2e-5 relative plus an absolute 1e-6 (forward) or 4e-6 (gradients) times
// max(1, largest |value| of the tensor). Both sides are f32, but the CPU uses a vectorised exp
// (a few ulp) and BLAS sums in another order. dK, dV and dsink are sums over up to ~1200 rows
// (300 tokens x 4 heads of a group) of terms of either sign: their rounding error grows with
// the magnitude of the terms, not with each (possibly cancelled) element, about 1e-6 of the
// tensor's largest value in the worst element for sequential f32 sums of that length. Any
// indexing or masking error shows as an O(1) relative error. Rows that see nothing must match
// exactly (zeros, lse = +inf).
// The bf16 tensor-core forward (attention_forward_bf16) is compared to the f32 CUDA forward on
// the same bf16-rounded inputs, so Q K^T, the softmax and the sums see identical values and only
// two things differ: accumulation order inside the mma (f32, ~1e-6 relative) and P rounded to
// bf16 (8 bits: ~2e-3 relative per weight) before P V. O is a convex mix of V rows, so its error
// is at most ~2e-3 max|V| per element, well inside 2e-2 * max|O| (max|O| is O(1) here); a
// fragment or mask indexing error moves whole elements by O(max|O|). lse comes from the f32
// P (never rounded) and the f32 scores: only summation order differs, far below 1e-2 absolute.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include <fmt/format.h>

#include "framework/autograd/tape.h"
#include "framework/core/bf16.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/transfer.h"
#include "layers/attention/attention_kernel_cuda.h"
#include "layers/attention/core_attention.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/layers/attention/attention_test_util.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::AttentionCase;
using test::Cuda;

void expect_close(const Tensor& want_t, const Tensor& got_t, const std::string& what,
                  float abs_factor = 1e-6f) {
  ASSERT_EQ(want_t.defined(), got_t.defined()) << what;
  if (!want_t.defined()) return;
  ASSERT_TRUE(got_t.device().is_cuda()) << what;
  ASSERT_EQ(want_t.shape(), got_t.shape()) << what;
  const std::vector<float> want = want_t.to_vector<float>(), got = got_t.to_vector<float>();
  float scale = 1.0f;
  for (float w : want)
    if (std::isfinite(w)) scale = std::max(scale, std::abs(w));
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(want[i])) {  // lse of rows that see nothing
      ASSERT_EQ(got[i], want[i]) << what << " element " << i;
      continue;
    }
    ASSERT_NEAR(got[i], want[i], abs_factor * scale + 2e-5f * std::abs(want[i]))
        << what << " element " << i << " of " << want.size();
  }
}

struct Outcome {
  CoreAttentionResult r;
  Tensor dq, dk, dv, dsink;
};

// Forward, then backward of <out, dout> (+ <entropy, went> when given), on q's device; the loss
// is formed on the CPU (transfer), so only core_attention itself runs on the GPU.
Outcome run_op(const AttentionCase& c, const test::AttentionInputs& in,
               const CoreAttentionOptions& o, Device device, bool cu_on_device,
               const Tensor& went) {
  auto leaf = [&](const Tensor& t) {
    if (!t.defined()) return Tensor();
    Tensor x = t.to(device);
    x.set_requires_grad();
    x.set_grad(Tensor::full(x.shape(), 0.5, DType::kF32, device));  // proves accumulation
    return x;
  };
  const Tensor q = leaf(in.q), k = leaf(in.k), v = leaf(in.v), sink = leaf(in.sink);
  const Tensor cu_q = cu_on_device ? in.cu_q.to(device) : in.cu_q;
  const Tensor cu_k = cu_on_device ? in.cu_k.to(device) : in.cu_k;
  Outcome res;
  res.r = core_attention(q, k, v, cu_q, cu_k, sink, o);
  Tensor loss = sum(mul(transfer(res.r.out, Device::cpu()), in.dout));
  if (went.defined())
    loss = add(loss, sum(mul(transfer(res.r.stats.entropy, Device::cpu()), went)));
  backward(loss);
  res.dq = q.grad(), res.dk = k.grad(), res.dv = v.grad();
  if (c.sink) res.dsink = sink.grad();
  return res;
}

constexpr float kGradAbs = 4e-6f;

void compare_case(const AttentionCase& c, uint64_t seed, bool row_weights, bool entropy_loss,
                  bool cu_on_device) {
  SCOPED_TRACE(c.name);
  const test::AttentionInputs in = test::make_inputs(c, seed, DType::kF32);
  const int64_t tq = in.q.size(0);
  CoreAttentionOptions o_cpu = c.options, o_gpu = c.options;
  if (row_weights && c.options.stats.key_mass) {
    o_cpu.stats.key_mass_row_weights =
        test::random_uniform({tq, c.heads}, seed * 10 + 7, 0.5, 1.5, DType::kF32, false);
    // The op moves CPU weights to the GPU itself; give it both kinds.
    o_gpu.stats.key_mass_row_weights = seed % 2
                                           ? o_cpu.stats.key_mass_row_weights
                                           : o_cpu.stats.key_mass_row_weights.to(Device::cuda());
  }
  Tensor went;
  if (entropy_loss && c.options.stats.entropy && !c.sink)
    went = test::random_normal({tq, c.heads}, seed * 10 + 8, DType::kF32, 1.0, false);
  const Outcome want = run_op(c, in, o_cpu, Device::cpu(), false, went);
  const Outcome got = run_op(c, in, o_gpu, Device::cuda(), cu_on_device, went);
  expect_close(want.r.out, got.r.out, "out");
  expect_close(want.r.lse, got.r.lse, "lse");
  expect_close(want.r.stats.entropy, got.r.stats.entropy, "entropy");
  expect_close(want.r.stats.entropy_normalized, got.r.stats.entropy_normalized,
               "entropy_normalized");
  expect_close(want.r.stats.prob_sq_sum, got.r.stats.prob_sq_sum, "prob_sq_sum");
  expect_close(want.r.stats.first_token_mass, got.r.stats.first_token_mass, "first_token_mass");
  expect_close(want.r.stats.key_mass, got.r.stats.key_mass, "key_mass");
  expect_close(want.dq, got.dq, "dq", kGradAbs);
  expect_close(want.dk, got.dk, "dk", kGradAbs);
  expect_close(want.dv, got.dv, "dv", kGradAbs);
  expect_close(want.dsink, got.dsink, "dsink", kGradAbs);
}

// The shared randomized table (every mask, lengths 1..300 incl. tile edges, GQA 1/2/4, sink
// on/off, all statistics), with dv capped at the kernel's 128.
TEST_F(Cuda, CoreAttentionMatchesCpuOnRandomTable) {
  uint64_t n = 0;
  for (AttentionCase c : test::random_case_table()) {
    c.dv = std::min<int64_t>(c.dv, 128);
    compare_case(c, 500 + n, n % 3 != 0, n % 2 == 0, n % 4 == 1);
    ++n;
  }
}

// Shapes the table does not reach: head dims that are not 16/64/128, GQA 8, long documents
// spanning many tiles, empty query documents, one-token documents, rows that see nothing.
TEST_F(Cuda, CoreAttentionMatchesCpuOnEdgeCases) {
  std::vector<AttentionCase> cases;
  cases.reserve(16);  // add_case hands out pointers into it
  auto add_case = [&](std::string name, std::vector<int32_t> q, std::vector<int32_t> k,
                      int64_t heads, int64_t kv_heads, int64_t d, int64_t dv, bool sink) {
    AttentionCase c;
    c.name = std::move(name);
    c.q_lens = std::move(q);
    c.k_lens = std::move(k);
    c.heads = heads, c.kv_heads = kv_heads, c.d = d, c.dv = dv, c.sink = sink;
    c.options.stats.entropy = c.options.stats.prob_sq_sum = true;
    c.options.stats.first_token_mass = c.options.stats.key_mass = true;
    cases.push_back(c);
    return &cases.back();
  };
  add_case("long causal gqa8", {700}, {700}, 8, 1, 32, 32, false);
  add_case("odd dims", {33, 1, 95}, {33, 1, 95}, 2, 2, 24, 40, true);
  add_case("d 1", {5, 70}, {5, 70}, 1, 1, 1, 3, false);
  add_case("d 65 dv 100", {65, 129}, {65, 129}, 4, 2, 65, 100, true);
  add_case("d 128 dv 128", {200}, {200}, 2, 1, 128, 128, false);
  add_case("one-token docs", {1, 1, 1, 1}, {1, 1, 1, 1}, 2, 1, 16, 16, true);
  add_case("empty query doc", {0, 5, 0}, {3, 90, 4}, 2, 1, 16, 32, false);
  add_case("full long", {300, 250}, {300, 250}, 2, 2, 64, 64, true)->options.mask.kind =
      MaskKind::kFull;
  add_case("window long", {520}, {520}, 3, 1, 64, 64, false)->options.mask.window = 45;
  add_case("window 1", {70}, {70}, 1, 1, 16, 16, true)->options.mask.window = 1;
  AttentionCase* seg = add_case("segments", {130, 61}, {130, 61}, 4, 2, 32, 64, true);
  test::random_segments(seg->q_lens, 42, seg->options.mask);
  AttentionCase* pad = add_case("padding rows", {7}, {7}, 2, 1, 16, 16, false);
  pad->options.mask.kind = MaskKind::kSegment;
  pad->options.mask.segment_ids = Tensor::from_vector<int32_t>({7}, {0, 0, 0, 1, 1, 2, 3});
  pad->options.mask.segment_kinds = Tensor::from_vector<int32_t>({4}, {0, 1, 0, 2});
  uint64_t n = 0;
  for (const AttentionCase& c : cases) {
    compare_case(c, 900 + n, true, true, n % 2 == 0);
    ++n;
  }
}

TEST_F(Cuda, CoreAttentionIsDeterministic) {
  AttentionCase c;
  c.q_lens = c.k_lens = {200, 37, 300};
  c.heads = 4, c.kv_heads = 2, c.d = 32, c.dv = 32;
  c.sink = true;
  c.options.stats.entropy = c.options.stats.key_mass = true;
  const test::AttentionInputs in = test::make_inputs(c, 9, DType::kF32);
  auto once = [&] {
    const Outcome r = run_op(c, in, c.options, Device::cuda(), true, Tensor());
    std::vector<std::vector<float>> all;
    for (const Tensor& t :
         {r.r.out, r.r.lse, r.r.stats.entropy, r.r.stats.key_mass, r.dq, r.dk, r.dv, r.dsink})
      all.push_back(t.to_vector<float>());
    return all;
  };
  const auto first = once();
  const auto second = once();
  for (size_t i = 0; i < first.size(); ++i)
    for (size_t j = 0; j < first[i].size(); ++j)
      ASSERT_EQ(std::memcmp(&first[i][j], &second[i][j], sizeof(float)), 0)
          << "tensor " << i << " element " << j;
}

TEST_F(Cuda, CoreAttentionRejectsWhatTheKernelCannotDo) {
  AttentionCase c;
  c.q_lens = c.k_lens = {5};
  c.heads = c.kv_heads = 1;
  c.d = 129, c.dv = 16;
  test::AttentionInputs in = test::make_inputs(c, 11, DType::kF32);
  const Device gpu = Device::cuda();
  EXPECT_THROW(core_attention(in.q.to(gpu), in.k.to(gpu), in.v.to(gpu), in.cu_q, in.cu_k, Tensor(),
                              c.options),
               Error)
      << "head dim 129";
  clear_tape();
  EXPECT_THROW(core_attention(in.q.to(gpu), in.k, in.v, in.cu_q, in.cu_k, Tensor(), c.options),
               Error)
      << "q on the GPU, k and v on the CPU";
  clear_tape();
}

// ---- bf16 tensor-core forward ----

enum class Rows { kFull, kCausal, kWindow, kRandom, kEmpty };

struct Bf16Case {
  std::string name;
  std::vector<int32_t> q_lens, k_lens;
  int64_t heads = 2, kv_heads = 1, d = 64;
  bool sink = false;
  Rows rows = Rows::kCausal;
  int32_t window = 0;
};

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

void compare_bf16_case(const Bf16Case& c, uint64_t seed) {
  SCOPED_TRACE(c.name);
  std::mt19937 rng(static_cast<uint32_t>(seed));
  const int64_t docs = static_cast<int64_t>(c.q_lens.size());
  std::vector<int32_t> cu_q{0}, cu_k{0};
  for (int64_t b = 0; b < docs; ++b) {
    cu_q.push_back(cu_q.back() + c.q_lens[b]);
    cu_k.push_back(cu_k.back() + c.k_lens[b]);
  }
  const int64_t tq = cu_q.back(), tk = cu_k.back();
  // Row intervals like core_attention's (bottom-right aligned), or random ones with empty rows
  // and invalid keys: the kernels only see intervals, so these cover every mask.
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
  const Tensor d_cu_q = Tensor::from_vector<int32_t>({docs + 1}, cu_q).to(gpu);
  const Tensor d_cu_k = Tensor::from_vector<int32_t>({docs + 1}, cu_k).to(gpu);
  const Tensor d_lo = Tensor::from_vector<int32_t>({tq}, lo).to(gpu);
  const Tensor d_hi = Tensor::from_vector<int32_t>({tq}, hi).to(gpu);
  Tensor d_valid;  // bytes in an i32 tensor, as core_attention does
  if (!valid.empty()) {
    Tensor host = Tensor::zeros({(tk + 3) / 4}, DType::kI32);
    std::memcpy(host.raw(), valid.data(), valid.size());
    d_valid = host.to(gpu);
  }
  Tensor qf, kf, vf;
  const Tensor qb = bf16_on_gpu({tq, c.heads, c.d}, seed * 10 + 1, qf);
  const Tensor kb = bf16_on_gpu({tk, c.kv_heads, c.d}, seed * 10 + 2, kf);
  const Tensor vb = bf16_on_gpu({tk, c.kv_heads, c.d}, seed * 10 + 3, vf);
  const Tensor sink =
      c.sink ? test::random_normal({c.heads}, seed * 10 + 4, DType::kF32, 1.0, false).to(gpu)
             : Tensor();

  cuda::AttentionProblem pf;
  pf.q = qf.data<float>(), pf.k = kf.data<float>(), pf.v = vf.data<float>();
  pf.heads = c.heads, pf.kv_heads = c.kv_heads, pf.d = pf.dv = c.d;
  pf.tokens_q = tq, pf.tokens_k = tk;
  pf.cu_q = d_cu_q.data<int32_t>(), pf.cu_k = d_cu_k.data<int32_t>(), pf.docs = docs;
  pf.row_lo = d_lo.data<int32_t>(), pf.row_hi = d_hi.data<int32_t>();
  pf.key_valid = d_valid.defined() ? static_cast<const uint8_t*>(d_valid.raw()) : nullptr;
  pf.sink = c.sink ? sink.data<float>() : nullptr;
  pf.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.d)));
  cuda::AttentionProblemBf16 pb;
  pb.q = static_cast<const uint16_t*>(qb.raw()), pb.k = static_cast<const uint16_t*>(kb.raw());
  pb.v = static_cast<const uint16_t*>(vb.raw());
  pb.heads = pf.heads, pb.kv_heads = pf.kv_heads, pb.d = pb.dv = c.d;
  pb.tokens_q = tq, pb.tokens_k = tk;
  pb.cu_q = pf.cu_q, pb.cu_k = pf.cu_k, pb.docs = docs;
  pb.row_lo = pf.row_lo, pb.row_hi = pf.row_hi, pb.key_valid = pf.key_valid, pb.sink = pf.sink;
  pb.scale = pf.scale;

  // NaN-filled outputs: every element must be written.
  auto nan_buffer = [&](const Shape& shape) {
    return Tensor::full(shape, std::nan(""), DType::kF32, gpu);
  };
  const Tensor want_o = nan_buffer({tq, c.heads, c.d}), want_lse = nan_buffer({tq, c.heads});
  const Tensor got_o = nan_buffer({tq, c.heads, c.d}), got_lse = nan_buffer({tq, c.heads});
  cuda::attention_forward(pf, want_o.data<float>(), want_lse.data<float>(), {});
  cuda::attention_forward_bf16(pb, got_o.data<float>(), got_lse.data<float>());

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
    add("full q != k" + dn, {30, 100}, {90, 130}, 2, 2, d, true, Rows::kFull);
    add("window 17" + dn, {300}, {300}, 3, 1, d, true, Rows::kWindow, 17);
    add("window 1" + dn, {70}, {70}, 1, 1, d, false, Rows::kWindow, 1);
    add("random rows and invalid keys" + dn, {5, 129, 77}, {5, 129, 77}, 3, 1, d, false,
        Rows::kRandom);
    add("random rows sink" + dn, {64, 200}, {64, 200}, 2, 1, d, true, Rows::kRandom);
    add("empty query docs" + dn, {0, 40, 0}, {3, 70, 4}, 2, 1, d, false, Rows::kCausal);
    add("empty rows" + dn, {33, 64}, {33, 64}, 2, 1, d, true, Rows::kEmpty);
  }
  uint64_t n = 0;
  for (const Bf16Case& c : cases) compare_bf16_case(c, 1300 + n++);
}

TEST_F(Cuda, AttentionForwardBf16RejectsOtherHeadDims) {
  cuda::AttentionProblemBf16 p;
  p.heads = p.kv_heads = 1, p.docs = 1;
  p.d = p.dv = 96;
  EXPECT_THROW(cuda::attention_forward_bf16(p, nullptr, nullptr), Error) << "d 96";
  p.d = 64, p.dv = 128;
  EXPECT_THROW(cuda::attention_forward_bf16(p, nullptr, nullptr), Error) << "d != dv";
}

}  // namespace
}  // namespace attn
