// ADL (SPEC-attention section 8) on materialised probabilities and AEM's fused term: the values
// and gradients against the PyTorch fixtures of tests/reference/loss_fixtures.py (causal,
// windowed, with a sink, the pairwise form, the threshold edges), a float64 gradient check of
// ADL directly and through attention layers, the layer selection, the document-length limit and
// the recipe rule.
#include <gtest/gtest.h>

#include <memory>

#include "framework/autograd/tape.h"
#include "framework/config/recipe_loader.h"
#include "framework/core/error.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "layers/losses/adl.h"
#include "layers/losses/aem.h"
#include "layers/losses/recipe_losses.h"
#include "tests/layers/attention/variant_test_util.h"
#include "tests/layers/losses/loss_test_util.h"
#include "tests/support/fixtures.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

namespace cfg = attnlab::config;

cfg::Adl adl(double weight, double theta, bool pairwise = false, std::vector<int> layers = {}) {
  cfg::Adl a;
  a.set_weight(weight);
  a.set_theta(theta);
  a.set_pairwise(pairwise);
  for (int l : layers) a.add_layers(l);
  return a;
}

CoreAttentionOptions fixture_options(const SafetensorsFile& f) {
  CoreAttentionOptions o;
  o.mask.kind = MaskKind::kCausal;
  o.mask.window = std::stoll(f.metadata.at("window"));
  o.scale = std::stod(f.metadata.at("scale"));
  o.block_q = o.block_k = 8;  // several tiles per document for the fused AEM pass
  return o;
}

void expect_close(const char* what, const Tensor& got, const Tensor& want) {
  EXPECT_TRUE(test::all_close(got, want, 1e-12 + 1e-12 * test::max_abs(want), 1e-9)) << what;
}

// The core forward's lse for q, k, sink (what a fused loss reads); v does not enter it.
Tensor core_lse(const Tensor& q, const Tensor& k, const Tensor& sink, const Tensor& cu,
                const CoreAttentionOptions& o) {
  NoGrad no_grad;
  const Tensor v = Tensor::zeros({q.size(0), k.size(1), q.size(2)}, q.dtype());
  return core_attention(q, k, v, cu, cu, sink, o).lse;
}

// One layer of one: the loss is weight * the fixture's per-layer value. ADL through either path.
void check_golden(const std::string& name, bool materialise = false) {
  SCOPED_TRACE(name + (materialise ? " materialised" : ""));
  const SafetensorsFile f = test::load_fixture("losses/" + name);
  Tensor q = f.get("q").clone().set_requires_grad();
  Tensor k = f.get("k").clone().set_requires_grad();
  const bool has_sink = f.metadata.at("has_sink") == "1";
  Tensor sink = has_sink ? f.get("sink").clone().set_requires_grad() : Tensor();
  const Tensor cu = f.get("cu_seqlens");
  ASSERT_EQ(q.size(1), std::stoll(f.metadata.at("heads")));
  ASSERT_EQ(k.size(1), std::stoll(f.metadata.at("kv_heads")));
  const double weight = std::stod(f.metadata.at("weight"));
  CoreAttentionOptions o = fixture_options(f);
  PackedSequences seq;
  seq.cu_seqlens = cu;
  Tensor loss;
  if (f.metadata.at("loss") == "adl") {
    cfg::Adl config =
        adl(weight, std::stod(f.metadata.at("theta")), f.metadata.at("form") == "pairwise");
    config.set_materialise(materialise);
    const AdlLoss l(config, 1);
    ASSERT_EQ(std::stod(f.metadata.at("eps")), AdlOptions{}.eps);
    const Tensor lse = core_lse(q, k, sink, cu, o);
    loss = l.term(0, {seq, q, k, sink, lse, o, AttentionStats{}});
  } else {
    cfg::Aem a;
    a.set_weight(weight);
    const AemLoss aem(a, 1, q.size(1));
    aem.request(seq, q.size(1), o.stats);
    // AEM's statistic comes from the core op's entropy pass; v does not enter it.
    const Tensor v = Tensor::zeros({q.size(0), k.size(1), q.size(2)}, DType::kF64);
    CoreAttentionResult r = core_attention(q, k, v, cu, cu, sink, o);
    expect_close("entropy", r.stats.entropy, f.get("entropy"));
    loss = aem.term(0, {seq, q, k, sink, r.lse, o, r.stats});
  }
  expect_close("loss", loss, f.get("loss"));
  backward(loss);
  expect_close("grad_q", q.grad(), f.get("grad_q"));
  expect_close("grad_k", k.grad(), f.get("grad_k"));
  if (has_sink) expect_close("grad_sink", sink.grad(), f.get("grad_sink"));
}

TEST(AdlGolden, MeanFormCausalWindowSinkAndThresholdEdges) {
  for (bool materialise : {false, true})
    for (const char* name : {"adl_causal", "adl_window", "adl_sink", "adl_threshold_edge"})
      check_golden(name, materialise);
}

TEST(AdlGolden, PairwiseForm) {
  check_golden("adl_pairwise", false);
  check_golden("adl_pairwise", true);
}

TEST(AemGolden, CausalAndSinkWithWindow) {
  check_golden("aem_causal");
  check_golden("aem_sink_window");
}

// Random q, k (and sink) for documents of `lens`; a low theta keeps most entries above their
// thresholds so the check sees the cosine terms, the finite differences stay clear of the steps.
struct AdlProblem {
  Tensor q, k, sink, cu;
};
AdlProblem adl_problem(const std::vector<int32_t>& lens, int64_t heads, int64_t kv_heads,
                       bool with_sink, uint64_t seed) {
  std::vector<int32_t> cu{0};
  for (int32_t n : lens) cu.push_back(cu.back() + n);
  AdlProblem p;
  NoGrad leaves;  // the scaled draws are the leaves
  p.q = scale(test::random_normal({cu.back(), heads, 8}, seed), 1.5).set_requires_grad();
  p.k = scale(test::random_normal({cu.back(), kv_heads, 8}, seed + 1), 1.5).set_requires_grad();
  if (with_sink) p.sink = test::random_normal({heads}, seed + 2).set_requires_grad();
  p.cu = Tensor::from_vector<int32_t>({static_cast<int64_t>(cu.size())}, cu);
  return p;
}

TEST(Gradcheck, AdlMaterialised) {
  struct Case {
    const char* name;
    bool pairwise, sink;
    int64_t window;
    MaskKind kind;
  };
  for (const Case& c : {Case{"mean causal", false, false, 0, MaskKind::kCausal},
                        Case{"mean sink window", false, true, 3, MaskKind::kCausal},
                        Case{"pairwise sink", true, true, 0, MaskKind::kCausal},
                        Case{"mean full", false, false, 0, MaskKind::kFull},
                        Case{"pairwise full window", true, false, 2, MaskKind::kFull}}) {
    SCOPED_TRACE(c.name);
    AdlProblem p = adl_problem({6, 1, 4}, 4, 2, c.sink, 40);
    CoreAttentionOptions o;
    o.mask.kind = c.kind;
    o.mask.window = c.window;
    const AdlOptions a{.theta = 0.5, .pairwise = c.pairwise};
    std::vector<Tensor> inputs{p.q, p.k};
    if (c.sink) inputs.push_back(p.sink);
    EXPECT_TRUE(test::gradcheck(
        [&](const std::vector<Tensor>& in) {
          return adl_materialised(in[0], in[1], c.sink ? in[2] : Tensor(), p.cu, o, a);
        },
        inputs, {.eps = 1e-6, .atol = 1e-9, .rtol = 1e-5}));
  }
}

TEST(Gradcheck, AdlThroughAnAttentionLayer) {
  for (auto kind : {cfg::Attention::SOFTMAX, cfg::Attention::SINK, cfg::Attention::GATED,
                    cfg::Attention::MOH}) {
    SCOPED_TRACE(cfg::Attention::Kind_Name(kind));
    EXPECT_TRUE(test::gradcheck_loss_through_layer(
        test::default_attention(kind),
        [&](const AttentionSpec& spec) {
          return std::make_unique<AdlLoss>(adl(0.5, 0.5, kind == cfg::Attention::GATED),
                                           spec.num_layers);
        },
        {.input_scale = 2.0}));
  }
}

TEST(Adl, ValueIsACosineMeanAndScalesWithWeightAndLayers) {
  AdlProblem p = adl_problem({7, 3}, 2, 1, false, 9);
  CoreAttentionOptions o;
  o.mask.kind = MaskKind::kCausal;
  const double one = adl_materialised(p.q, p.k, Tensor(), p.cu, o, {.theta = 1}).item();
  EXPECT_GT(one, 0.0);  // cosines of non-negative vectors
  EXPECT_LE(one, 1.0 + 1e-12);
  PackedSequences seq;
  seq.cu_seqlens = p.cu;
  const AdlLoss two_layers(adl(3.0, 1.0, false, {0, 2}), 4);
  EXPECT_FALSE(two_layers.selects(1));
  EXPECT_TRUE(two_layers.selects(2));
  const Tensor lse = core_lse(p.q, p.k, Tensor(), p.cu, o);
  EXPECT_NEAR(two_layers.term(2, {seq, p.q, p.k, Tensor(), lse, o, AttentionStats{}}).item(),
              3.0 * one / 2, 1e-12);
  EXPECT_THROW(AdlLoss(adl(1.0, 2.0, false, {4}), 4), Error);
}

TEST(Adl, RefusesDocumentsBeyondTheMaterialisedLimit) {
  const int64_t n = kAdlMaterialisedMaxLen + 1;
  const Tensor q = Tensor::zeros({n, 1, 2}, DType::kF32), k = q;
  const Tensor cu = Tensor::from_vector<int32_t>({2}, {0, static_cast<int32_t>(n)});
  CoreAttentionOptions o;
  o.mask.kind = MaskKind::kCausal;
  try {
    adl_materialised(q, k, Tensor(), cu, o, {});
    ADD_FAILURE() << "a document of " << n << " tokens was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig);
    EXPECT_NE(e.message().find("4097 tokens"), std::string::npos) << e.message();
  }
}

TEST(Adl, WeightZeroBuildsNoLossAndOnlyTheMaterialisingPathHasALengthLimit) {
  cfg::Losses l;
  *l.mutable_adl() = adl(0.0, 2.0, true, {1});
  EXPECT_TRUE(make_attention_losses(l, 2, 4).empty());
  *l.mutable_adl() = adl(1.0, 2.0);
  ASSERT_EQ(make_attention_losses(l, 2, 4).size(), 1u);
  EXPECT_EQ(make_attention_losses(l, 2, 4)[0]->name(), "adl");

  install_attention_loss_rules();
  EXPECT_NO_THROW(config::load_recipe_from_string(
      "losses { adl { weight: 1 materialise: true } }\n", "r.textproto", {"model.seq_len=4096"}));
  EXPECT_NO_THROW(config::load_recipe_from_string("losses { adl { weight: 1 } }\n", "r.textproto",
                                                  {"model.seq_len=16384"}));
  try {
    config::load_recipe_from_string(
        "model {\n  seq_len: 8192\n}\nlosses { adl { weight: 1 materialise: true } }\n",
        "r.textproto");
    ADD_FAILURE() << "materialised ADL with seq_len 8192 was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_EQ(e.where(), "r.textproto:2");
    EXPECT_NE(e.message().find("model.seq_len: ADL's materialising path takes documents of up to "
                               "4096 tokens"),
              std::string::npos)
        << e.message();
  }
}

}  // namespace
}  // namespace attn
