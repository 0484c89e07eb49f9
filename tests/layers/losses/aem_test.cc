// AEM (SPEC-attention section 7, self-attention form): the fused value and its gradients with
// respect to q, k and the sink through the core backward against the materialising reference
// (f64, 1e-9) on varlen causal batches with GQA, a sink and a window; a float64 gradient check
// through a whole attention layer; the layer and head selection; the recipe's refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "framework/autograd/tape.h"
#include "framework/config/recipe_loader.h"
#include "framework/core/error.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "layers/attention/core_attention_reference.h"
#include "layers/losses/aem.h"
#include "layers/losses/recipe_losses.h"
#include "tests/layers/attention/attention_test_util.h"
#include "tests/layers/attention/variant_test_util.h"
#include "tests/layers/losses/loss_test_util.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

namespace cfg = attnlab::config;

cfg::Aem aem(double weight, std::vector<int> layers = {}, std::vector<int> heads = {}) {
  cfg::Aem a;
  a.set_weight(weight);
  for (int l : layers) a.add_layers(l);
  for (int h : heads) a.add_heads(h);
  return a;
}

::testing::AssertionResult close(const std::vector<double>& a, const std::vector<double>& b,
                                 double tol, const char* what) {
  if (a.size() != b.size())
    return ::testing::AssertionFailure() << what << ": sizes " << a.size() << " vs " << b.size();
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::fabs(a[i] - b[i]) <= tol * std::max(1.0, std::fabs(b[i]))))
      return ::testing::AssertionFailure() << what << "[" << i << "]: " << a[i] << " vs " << b[i];
  return ::testing::AssertionSuccess();
}

// The loss is linear in the row entropies with coefficient -weight / (layers * rows * heads):
// the reference's entropy_grad with that constant gives its exact gradient.
void check_against_reference(test::AttentionCase c, uint64_t seed) {
  SCOPED_TRACE(c.name);
  c.options.stats = {};
  const double weight = 0.3;
  const int num_layers = 2;
  const AemLoss loss(aem(weight), num_layers, c.heads);
  loss.request(PackedSequences{}, c.heads, c.options.stats);
  test::AttentionInputs in = test::make_inputs(c, seed);
  CoreAttentionResult res = core_attention(in.q, in.k, in.v, in.cu_q, in.cu_k, in.sink, c.options);
  const PackedSequences seq;
  const Tensor term = loss.term(0, {seq, in.q, in.k, in.sink, res.lse, c.options, res.stats});
  backward(term);
  const int64_t rows = in.q.size(0);
  const double coeff = -weight / num_layers / static_cast<double>(rows * c.heads);
  const Tensor g = Tensor::full({rows, c.heads}, coeff, DType::kF64);
  const Tensor zero_out = Tensor::zeros({rows, c.heads, c.dv}, DType::kF64);
  ReferenceAttention ref =
      reference_attention(in.q, in.k, in.v, in.cu_q, in.cu_k, in.sink, c.options, zero_out, g);
  double value = 0;
  for (double h : ref.entropy) value += coeff * h;
  EXPECT_NEAR(term.item(), value, 1e-9 * std::max(1.0, std::fabs(value)));
  EXPECT_TRUE(close(in.q.grad().to_vector<double>(), ref.dq, 1e-9, "dq"));
  EXPECT_TRUE(close(in.k.grad().to_vector<double>(), ref.dk, 1e-9, "dk"));
  if (c.sink) {
    EXPECT_TRUE(close(in.sink.grad().to_vector<double>(), ref.dsink, 1e-9, "dsink"));
  }
  // The entropy depends on q and k only: v gets no gradient from AEM.
  if (in.v.grad().defined()) {
    for (double x : in.v.grad().to_vector<double>()) ASSERT_EQ(x, 0.0);
  }
}

TEST(Aem, FusedGradientEqualsTheMaterialisingReference) {
  test::AttentionCase c;
  c.q_lens = c.k_lens = {1, 7, 19, 64};  // a document of one token, odd lengths
  c.heads = 4;
  c.kv_heads = 2;
  c.d = c.dv = 16;
  c.options.mask.kind = MaskKind::kCausal;
  c.name = "causal gqa";
  check_against_reference(c, 11);
  c.sink = true;
  c.name = "causal gqa sink";
  check_against_reference(c, 12);
  c.options.mask.window = 5;
  c.name = "causal gqa sink window";
  check_against_reference(c, 13);
  c.sink = false;
  c.options.block_q = 8;  // several tiles per document
  c.options.block_k = 8;
  c.name = "window small tiles";
  check_against_reference(c, 14);
}

TEST(Aem, EveryMaskOfTheRandomTable) {
  const std::vector<test::AttentionCase> table = test::random_case_table();
  for (size_t i = 0; i < table.size(); i += 4) check_against_reference(table[i], 300 + i);
}

TEST(Gradcheck, AemThroughAnAttentionLayer) {
  for (auto kind : {cfg::Attention::SOFTMAX, cfg::Attention::SINK, cfg::Attention::GATED}) {
    SCOPED_TRACE(cfg::Attention::Kind_Name(kind));
    cfg::Attention a = test::default_attention(kind);
    if (kind == cfg::Attention::SOFTMAX) a.set_window(3);
    EXPECT_TRUE(test::gradcheck_loss_through_layer(a, [](const AttentionSpec& spec) {
      return std::make_unique<AemLoss>(aem(0.5, {}, {1, 3}), spec.num_layers, spec.heads);
    }));
  }
}

TEST(Aem, SelectsLayersAndHeads) {
  const AemLoss all(aem(1.0), 3, 4);
  EXPECT_TRUE(all.selects(0) && all.selects(2));
  const AemLoss some(aem(2.0, {2}, {0, 3}), 3, 4);
  EXPECT_FALSE(some.selects(0));
  EXPECT_TRUE(some.selects(2));
  // entropy [2 rows, 4 heads]: the mean over heads 0 and 3 only, times -weight / 1 layer.
  AttentionStats st;
  st.entropy = Tensor::from_vector<double>({2, 4}, {1, 10, 10, 2, 3, 10, 10, 4});
  const PackedSequences seq;
  const Tensor none;
  const CoreAttentionOptions o;
  const AttentionLossInputs in{seq, none, none, none, none, o, st};
  EXPECT_DOUBLE_EQ(some.term(2, in).item(), -2.0 * (1 + 2 + 3 + 4) / 4.0);
  EXPECT_DOUBLE_EQ(all.term(0, in).item(), -(50.0 / 8.0) / 3.0);
  EXPECT_THROW(AemLoss(aem(1.0, {3}), 3, 4), Error);
  EXPECT_THROW(AemLoss(aem(1.0, {}, {4}), 3, 4), Error);
}

TEST(Aem, WeightZeroBuildsNoLoss) {
  cfg::Losses l;
  *l.mutable_aem() = aem(0.0, {1});
  EXPECT_TRUE(make_attention_losses(l, 2, 4).empty());
  *l.mutable_aem() = aem(0.1);
  ASSERT_EQ(make_attention_losses(l, 2, 4).size(), 1u);
  EXPECT_EQ(make_attention_losses(l, 2, 4)[0]->name(), "aem");
}

TEST(Aem, WithASinkOnCudaIsARecipeError) {
  install_attention_loss_rules();
  const std::vector<std::string> sets = {"losses.aem.weight=0.1", "attention.kind=SINK",
                                         "train.device=CUDA"};
  try {
    config::load_recipe_from_string("", "r.textproto", sets);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "--set losses.aem.weight=0.1");
    EXPECT_NE(e.message().find("trains on the CPU only so far"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(config::load_recipe_from_string(
      "", "r.textproto", {"losses.aem.weight=0.1", "attention.kind=SINK"}));
}

}  // namespace
}  // namespace attn
