// Core attention: f64 finite-difference gradient checks (incl. the sink logit and the fused
// entropy gradient), rows that see nothing, thread-count determinism and input validation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "layers/attention/core_attention.h"
#include "tests/layers/attention/attention_test_util.h"
#include "tests/support/blas_core_types.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::AttentionCase;
using test::gradcheck;

// gradcheck over (q, k, v[, sink]) of the attention output.
::testing::AssertionResult check_grads(const AttentionCase& c, uint64_t seed) {
  test::AttentionInputs in = test::make_inputs(c, seed);
  std::vector<Tensor> inputs = {in.q, in.k, in.v};
  if (c.sink) inputs.push_back(in.sink);
  return gradcheck(
      [&](const std::vector<Tensor>& x) {
        return core_attention(x[0], x[1], x[2], in.cu_q, in.cu_k, c.sink ? x[3] : Tensor(),
                              c.options)
            .out;
      },
      inputs);
}

TEST(Gradcheck, CoreAttentionCausalVarlenGqaSink) {
  AttentionCase c;
  c.q_lens = c.k_lens = {3, 1, 5};
  c.heads = 4, c.kv_heads = 2, c.d = 4, c.dv = 8;
  c.sink = true;
  c.options.block_q = 2, c.options.block_k = 3;
  EXPECT_TRUE(check_grads(c, 1));
}

TEST(Gradcheck, CoreAttentionEveryMask) {
  AttentionCase c;
  c.heads = 2, c.kv_heads = 1, c.d = 4, c.dv = 4;
  c.options.block_q = 3, c.options.block_k = 2;
  c.q_lens = c.k_lens = {6, 4};
  c.options.mask.kind = MaskKind::kFull;
  EXPECT_TRUE(check_grads(c, 2)) << "full";
  c.options.mask.kind = MaskKind::kCausal;
  c.options.mask.window = 2;
  EXPECT_TRUE(check_grads(c, 3)) << "sliding window";
  c.options.mask.window = 0;
  c.q_lens = {2, 3};  // bottom-right aligned queries
  EXPECT_TRUE(check_grads(c, 4)) << "bottom-right causal";
  c.q_lens = c.k_lens = {7};
  c.sink = true;
  c.options.mask.kind = MaskKind::kSegment;
  // context(3) response(2) context(1) padding(1): includes a row that sees nothing.
  c.options.mask.segment_ids = Tensor::from_vector<int32_t>({7}, {0, 0, 0, 1, 1, 2, 3});
  c.options.mask.segment_kinds = Tensor::from_vector<int32_t>({4}, {0, 1, 0, 2});
  EXPECT_TRUE(check_grads(c, 5)) << "segment with padding and sink";
}

TEST(Gradcheck, CoreAttentionEntropyGradient) {
  // Loss = <out, R> + <entropy, W>: the entropy term goes through the fused dS hook (AEM).
  AttentionCase c;
  c.q_lens = c.k_lens = {4, 6};
  c.heads = 2, c.kv_heads = 2, c.d = 4, c.dv = 4;
  c.options.block_q = 4, c.options.block_k = 3;
  c.options.stats.entropy = true;
  test::AttentionInputs in = test::make_inputs(c, 6);
  Tensor w = test::random_normal({10, 2}, 7, DType::kF64, 1.0, false);
  EXPECT_TRUE(gradcheck(
      [&](const std::vector<Tensor>& x) {
        CoreAttentionResult r =
            core_attention(x[0], x[1], x[2], in.cu_q, in.cu_k, Tensor(), c.options);
        return add(sum(r.out), sum(mul(r.stats.entropy, w)));
      },
      {in.q, in.k, in.v}));
}

// With a sink the entropy includes the sink column, and its gradient reaches the sink logit too
// (it used to be dropped silently). Segment padding adds a row that sees nothing.
TEST(Gradcheck, CoreAttentionEntropyGradientWithSink) {
  AttentionCase c;
  c.q_lens = c.k_lens = {4, 6};
  c.heads = 2, c.kv_heads = 1, c.d = 4, c.dv = 4;
  c.sink = true;
  c.options.block_q = 4, c.options.block_k = 3;
  c.options.stats.entropy = true;
  c.options.mask.kind = MaskKind::kSegment;
  c.options.mask.segment_ids = Tensor::from_vector<int32_t>({10}, {0, 0, 1, 1, 2, 2, 2, 3, 3, 4});
  c.options.mask.segment_kinds = Tensor::from_vector<int32_t>({5}, {0, 1, 0, 1, 2});
  test::AttentionInputs in = test::make_inputs(c, 8);
  Tensor w = test::random_normal({10, 2}, 9, DType::kF64, 1.0, false);
  EXPECT_TRUE(gradcheck(
      [&](const std::vector<Tensor>& x) {
        CoreAttentionResult r = core_attention(x[0], x[1], x[2], in.cu_q, in.cu_k, x[3], c.options);
        return sum(mul(r.stats.entropy, w));
      },
      {in.q, in.k, in.v, in.sink}));
}

// The dP slot: a loss on the key mass M_j = sum_i w_i P_ij (with row weights, GQA, a sink and a
// row that sees nothing) sends w_i dL/dM_j into the core backward, together with the output's and
// the entropy's gradients.
TEST(Gradcheck, CoreAttentionKeyMassGradient) {
  AttentionCase c;
  c.q_lens = c.k_lens = {5, 4};
  c.heads = 4, c.kv_heads = 2, c.d = 4, c.dv = 4;
  c.sink = true;
  c.options.block_q = 2, c.options.block_k = 3;
  c.options.stats.entropy = c.options.stats.key_mass = true;
  c.options.stats.key_mass_row_weights = test::random_normal({9, 4}, 10, DType::kF64, 1.0, false);
  c.options.mask.kind = MaskKind::kSegment;
  c.options.mask.segment_ids = Tensor::from_vector<int32_t>({9}, {0, 0, 0, 1, 2, 3, 3, 3, 4});
  c.options.mask.segment_kinds = Tensor::from_vector<int32_t>({5}, {1, 0, 2, 1, 0});
  test::AttentionInputs in = test::make_inputs(c, 11);
  Tensor wm = test::random_normal({9, 4}, 12, DType::kF64, 1.0, false);
  Tensor we = test::random_normal({9, 4}, 13, DType::kF64, 1.0, false);
  EXPECT_TRUE(gradcheck(
      [&](const std::vector<Tensor>& x) {
        CoreAttentionResult r = core_attention(x[0], x[1], x[2], in.cu_q, in.cu_k, x[3], c.options);
        return add(add(sum(r.out), sum(mul(r.stats.key_mass, wm))), sum(mul(r.stats.entropy, we)));
      },
      {in.q, in.k, in.v, in.sink}));
}

TEST(CoreAttention, RowsThatSeeNothingGiveZerosNotNan) {
  AttentionCase c;
  c.q_lens = c.k_lens = {4};
  c.heads = c.kv_heads = 1;
  c.sink = true;
  c.options.mask.kind = MaskKind::kSegment;
  c.options.mask.segment_ids = Tensor::from_vector<int32_t>({4}, {0, 0, 1, 1});
  c.options.mask.segment_kinds = Tensor::from_vector<int32_t>({2}, {0, 2});  // context, padding
  c.options.stats.entropy = c.options.stats.first_token_mass = true;
  test::AttentionInputs in = test::make_inputs(c, 8);
  CoreAttentionResult r = core_attention(in.q, in.k, in.v, in.cu_q, in.cu_k, in.sink, c.options);
  backward(sum(mul(r.out, in.dout)));
  std::vector<double> out = r.out.to_vector<double>(), lse = r.lse.to_vector<double>();
  for (int t = 2; t < 4; ++t) {
    for (int c2 = 0; c2 < 16; ++c2) EXPECT_EQ(out[t * 16 + c2], 0.0);
    EXPECT_TRUE(std::isinf(lse[t]) && lse[t] > 0);
    EXPECT_EQ(r.stats.entropy.to_vector<double>()[t], 0.0);
  }
  for (const Tensor& g : {in.q.grad(), in.k.grad(), in.v.grad(), in.sink.grad()})
    for (double x : g.to_vector<double>()) EXPECT_TRUE(std::isfinite(x));
  std::vector<double> dq = in.q.grad().to_vector<double>(), dk = in.k.grad().to_vector<double>();
  for (int i = 2 * 16; i < 4 * 16; ++i) {
    EXPECT_EQ(dq[i], 0.0) << "padding query " << i;
    EXPECT_EQ(dk[i], 0.0) << "padding key " << i;
  }
}

TEST(Determinism, CoreAttention) {
  AttentionCase c;
  c.q_lens = c.k_lens = {200, 37, 300};
  c.heads = 4, c.kv_heads = 2, c.d = 32, c.dv = 32;
  c.sink = true;
  c.options.stats.entropy = c.options.stats.key_mass = true;
  test::expect_same_bits_for_1_and_2_threads([&] {
    test::AttentionInputs in = test::make_inputs(c, 9, DType::kF32);
    CoreAttentionResult r = core_attention(in.q, in.k, in.v, in.cu_q, in.cu_k, in.sink, c.options);
    // Through every gradient path: the output, the entropy's dS term and the key mass's dP term.
    Tensor mass_w = test::random_normal(r.stats.key_mass.shape(), 21, DType::kF32, 1.0, false);
    backward(add(sum(mul(r.out, in.dout)),
                 add(sum(r.stats.entropy), sum(mul(r.stats.key_mass, mass_w)))));
    return std::vector<Tensor>{r.out,       r.lse,       r.stats.entropy, r.stats.key_mass,
                               in.q.grad(), in.k.grad(), in.v.grad(),     in.sink.grad()};
  });
}

TEST(CoreAttention, RejectsBadInput) {
  AttentionCase c;
  c.q_lens = c.k_lens = {3, 2};
  test::AttentionInputs in = test::make_inputs(c, 10);
  auto run = [&](const Tensor& cu_q, const Tensor& cu_k, const CoreAttentionOptions& o) {
    clear_tape();
    core_attention(in.q, in.k, in.v, cu_q, cu_k, Tensor(), o);
  };
  CoreAttentionOptions o;
  EXPECT_THROW(run(Tensor::from_vector<int32_t>({3}, {0, 3, 4}), in.cu_k, o), Error) << "end";
  EXPECT_THROW(run(Tensor::from_vector<int32_t>({3}, {0, 4, 3}), in.cu_k, o), Error) << "order";
  EXPECT_THROW(run(in.cu_q, Tensor::from_vector<int32_t>({3}, {0, 1, 5}), o), Error)
      << "causal needs q_len <= kv_len";
  CoreAttentionOptions seg;
  seg.mask.kind = MaskKind::kSegment;
  seg.mask.segment_ids = Tensor::from_vector<int32_t>({5}, {0, 1, 0, 0, 0});
  seg.mask.segment_kinds = Tensor::from_vector<int32_t>({2}, {0, 1});
  EXPECT_THROW(run(in.cu_q, in.cu_k, seg), Error) << "decreasing segment ids";
  seg.mask.segment_ids = Tensor::from_vector<int32_t>({5}, {0, 0, 0, 0, 5});
  EXPECT_THROW(run(in.cu_q, in.cu_k, seg), Error) << "segment id out of range";
  Tensor k3 = Tensor::zeros({5, 3, 16}, DType::kF64);
  EXPECT_THROW(core_attention(in.q, k3, k3, in.cu_q, in.cu_k, Tensor(), o), Error)
      << "kv_heads must divide heads";
  clear_tape();
}

TEST(BlasCoreTypes, CoreAttentionSameBitsForAnyThreadCount) {
  test::expect_filter_passes_under_every_core_type("Determinism.*");
}

}  // namespace
}  // namespace attn
