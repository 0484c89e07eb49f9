// The fused ADL path (layers/losses/adl_fused.h) against the materialising reference: value and
// gradients w.r.t. q, k and the sink in float64 to 1e-9 on varlen batches with GQA and a sink,
// under every mask and several block sizes, both forms; a float64 finite-difference check of
// the fused gradient; the edge cases (one visible key, a document of length 1, all-zero
// thresholded vectors, a padded row that sees nothing); f32 against f64; results independent
// of the thread count; a document past the materialising path's limit.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "layers/losses/adl_fused.h"
#include "tests/support/fixtures.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

struct Inputs {
  Tensor q, k, sink, cu;
};

Inputs make_inputs(const std::vector<int32_t>& lens, int64_t heads, int64_t kv_heads, bool sink,
                   uint64_t seed, double spread = 1.5, int64_t d = 8) {
  std::vector<int32_t> cu{0};
  for (int32_t n : lens) cu.push_back(cu.back() + n);
  Inputs in;
  NoGrad leaves;
  in.q = scale(test::random_normal({cu.back(), heads, d}, seed), spread).set_requires_grad();
  in.k = scale(test::random_normal({cu.back(), kv_heads, d}, seed + 1), spread).set_requires_grad();
  if (sink) in.sink = test::random_normal({heads}, seed + 2).set_requires_grad();
  in.cu = Tensor::from_vector<int32_t>({static_cast<int64_t>(cu.size())}, cu);
  return in;
}

Tensor core_lse(const Inputs& in, const CoreAttentionOptions& o) {
  NoGrad no_grad;
  const Tensor v = Tensor::zeros({in.q.size(0), in.k.size(1), in.q.size(2)}, in.q.dtype());
  return core_attention(in.q, in.k, v, in.cu, in.cu, in.sink, o).lse;
}

struct Result {
  double value = 0;
  Tensor dq, dk, dsink;
};

// Value and gradients of 3 * ADL (a non-unit upstream gradient) through one path.
Result run(const Inputs& in, const CoreAttentionOptions& o, const AdlOptions& a, bool fused) {
  for (const Tensor& t : {in.q, in.k, in.sink})
    if (t.defined()) Tensor(t).set_grad(Tensor());
  Tensor y = fused ? adl_fused(in.q, in.k, in.sink, core_lse(in, o), in.cu, o, a)
                   : adl_materialised(in.q, in.k, in.sink, in.cu, o, a);
  backward(scale(y, 3.0));
  Result r{y.item(), in.q.grad().clone(), in.k.grad().clone(), Tensor()};
  if (in.sink.defined()) r.dsink = in.sink.grad().clone();
  return r;
}

void expect_close(const char* what, const Tensor& got, const Tensor& want, double rtol) {
  EXPECT_TRUE(test::all_close(got, want, 1e-12 + rtol * test::max_abs(want), rtol)) << what;
}

void expect_same(const Result& fused, const Result& ref, double rtol = 1e-9) {
  EXPECT_NEAR(fused.value, ref.value, 1e-12 + rtol * std::fabs(ref.value));
  expect_close("dq", fused.dq, ref.dq, rtol);
  expect_close("dk", fused.dk, ref.dk, rtol);
  if (ref.dsink.defined()) expect_close("dsink", fused.dsink, ref.dsink, rtol);
}

struct MaskCase {
  const char* name;
  MaskKind kind;
  int64_t window;
};

const MaskCase kMasks[] = {{"causal", MaskKind::kCausal, 0},
                           {"causal window 5", MaskKind::kCausal, 5},
                           {"full", MaskKind::kFull, 0},
                           {"full window 4", MaskKind::kFull, 4}};

TEST(AdlFused, EqualsTheMaterialisedReferenceOnVarlenGqaBatchesWithASink) {
  // 130 tokens at block_q 16: 9 query blocks in 8 units, so column sums cross units.
  const Inputs in = make_inputs({70, 1, 33, 130}, 4, 2, true, 11);
  for (const MaskCase& m : kMasks)
    for (bool pairwise : {false, true})
      for (double theta : {0.5, 2.0})
        for (int64_t bq : {1, 16, 64}) {
          SCOPED_TRACE(std::string(m.name) + (pairwise ? " pairwise" : " mean") + " theta " +
                       std::to_string(theta) + " block_q " + std::to_string(bq));
          CoreAttentionOptions o;
          o.mask.kind = m.kind;
          o.mask.window = m.window;
          o.block_q = bq, o.block_k = 32;
          const AdlOptions a{.theta = theta, .pairwise = pairwise};
          expect_same(run(in, o, a, true), run(in, o, a, false));
        }
}

TEST(AdlFused, EqualsTheReferenceUnderSegmentMasksWithPaddingAndWithoutGqa) {
  Inputs in = make_inputs({9, 5}, 3, 3, true, 21);
  CoreAttentionOptions o;
  o.mask.kind = MaskKind::kSegment;
  // doc 0: context(3) response(4) padding(2); doc 1: response(5). Padded rows see nothing.
  o.mask.segment_ids =
      Tensor::from_vector<int32_t>({14}, {0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3});
  o.mask.segment_kinds = Tensor::from_vector<int32_t>({4}, {0, 1, 2, 1});
  o.block_q = 4;
  for (bool pairwise : {false, true}) {
    SCOPED_TRACE(pairwise ? "pairwise" : "mean");
    const AdlOptions a{.theta = 1.0, .pairwise = pairwise};
    expect_same(run(in, o, a, true), run(in, o, a, false));
  }
}

TEST(Gradcheck, AdlFused) {
  for (bool pairwise : {false, true})
    for (bool sink : {false, true}) {
      SCOPED_TRACE(std::string(pairwise ? "pairwise" : "mean") + (sink ? " sink" : ""));
      const Inputs in = make_inputs({6, 1, 5}, 4, 2, sink, 40);
      CoreAttentionOptions o;
      o.mask.kind = MaskKind::kCausal;
      o.mask.window = sink ? 3 : 0;
      o.block_q = 2;
      const AdlOptions a{.theta = 0.5, .pairwise = pairwise};
      std::vector<Tensor> inputs{in.q, in.k};
      if (sink) inputs.push_back(in.sink);
      EXPECT_TRUE(test::gradcheck(
          [&](const std::vector<Tensor>& x) {
            const Inputs cur{x[0], x[1], sink ? x[2] : Tensor(), in.cu};
            return adl_fused(cur.q, cur.k, cur.sink, core_lse(cur, o), in.cu, o, a);
          },
          inputs, {.eps = 1e-6, .atol = 1e-9, .rtol = 1e-5}));
    }
}

TEST(AdlFused, EdgeCasesAreFiniteAndMatchTheReference) {
  CoreAttentionOptions o;
  o.mask.kind = MaskKind::kCausal;
  // Window 1: every row sees one key (its own), Abar rows are one-hot; documents of length 1.
  o.mask.window = 1;
  const Inputs one_key = make_inputs({4, 1, 1}, 2, 1, false, 5);
  for (bool pairwise : {false, true}) {
    const AdlOptions a{.theta = 0.5, .pairwise = pairwise};
    const Result f = run(one_key, o, a, true);
    expect_same(f, run(one_key, o, a, false));
    EXPECT_TRUE(std::isfinite(f.value));
  }
  // theta = N_i at zero scores: every row is uniform, at most 1 / N_i, never above its
  // threshold; all thresholded vectors are zero: cosine 0 and finite (zero) gradients.
  o.mask.window = 0;
  Inputs flat = make_inputs({5, 3}, 2, 2, false, 6);
  {
    NoGrad no_grad;
    flat.q = Tensor::zeros(flat.q.shape(), DType::kF64).set_requires_grad();
  }
  for (bool pairwise : {false, true}) {
    const Result f = run(flat, o, {.theta = 1.0, .pairwise = pairwise}, true);
    EXPECT_EQ(f.value, 0.0);
    EXPECT_EQ(test::max_abs(f.dq), 0.0);
    EXPECT_EQ(test::max_abs(f.dk), 0.0);
  }
}

TEST(AdlFused, FloatMatchesDoubleAndResultsDoNotDependOnTheThreadCount) {
  const Inputs in = make_inputs({200, 57}, 4, 1, true, 31);
  CoreAttentionOptions o;
  o.mask.kind = MaskKind::kCausal;
  o.block_q = 16;
  const AdlOptions a{.theta = 1.0};
  const Result ref = run(in, o, a, true);
  Inputs f32;
  {
    NoGrad no_grad;
    f32 = {in.q.to(DType::kF32).set_requires_grad(), in.k.to(DType::kF32).set_requires_grad(),
           in.sink.to(DType::kF32).set_requires_grad(), in.cu};
  }
  test::expect_same_bits_for_1_and_2_threads([&] {
    const Result r = run(f32, o, a, true);
    return std::vector<Tensor>{Tensor::full({}, r.value, DType::kF64), r.dq, r.dk, r.dsink};
  });
  const Result one = run(f32, o, a, true);
  EXPECT_NEAR(one.value, ref.value, 1e-4 * std::fabs(ref.value));
  expect_close("f32 dq", one.dq.to(DType::kF64), ref.dq, 1e-3);
  expect_close("f32 dk", one.dk.to(DType::kF64), ref.dk, 1e-3);
}

TEST(AdlFused, RunsPastTheMaterialisedLimitAndRefusesBadArguments) {
  const int32_t n = static_cast<int32_t>(kAdlMaterialisedMaxLen) + 300;
  const Inputs in = make_inputs({n}, 2, 1, false, 51, 1.0, 4);
  CoreAttentionOptions o;
  o.mask.kind = MaskKind::kCausal;
  o.mask.window = 64;  // keeps the reference affordable below: only the windowed strip matters
  const double v = adl_fused(in.q, in.k, Tensor(), core_lse(in, o), in.cu, o, {}).item();
  EXPECT_TRUE(std::isfinite(v));
  EXPECT_GT(v, 0.0);
  EXPECT_THROW(adl_materialised(in.q, in.k, Tensor(), in.cu, o, {}), Error);
  EXPECT_THROW(adl_fused(in.q, in.k, Tensor(), core_lse(in, o), in.cu, o, {.theta = 0}), Error);
  const Tensor short_lse = Tensor::zeros({3, 2}, DType::kF64);
  EXPECT_THROW(adl_fused(in.q, in.k, Tensor(), short_lse, in.cu, o, {}), Error);
}

}  // namespace
}  // namespace attn
