// The attention-loss hook with a toy loss L = weight * (sum_i a_i H_i + sum_j b_j M_j) on the row
// entropy H and the key mass M (row weights w): its gradient must flow through the core backward
// (dS row term and dP term) and match central differences in float64, in every variant that
// takes attention losses; the model adds the terms of the selected layers to its loss.
#include <gtest/gtest.h>

#include <memory>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/core/param_store.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "layers/losses/attention_loss.h"
#include "layers/models/gpt.h"
#include "tests/layers/attention/variant_test_util.h"
#include "tests/layers/losses/loss_test_util.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

namespace cfg = attnlab::config;

class ToyLoss final : public AttentionLoss {
 public:
  ToyLoss(int layer, int64_t tokens, int64_t heads, double weight)
      : layer_(layer),
        weight_(weight),
        a_(test::random_normal({tokens, heads}, 31, DType::kF64, 1.0, false)),
        b_(test::random_normal({tokens, heads}, 32, DType::kF64, 1.0, false)),
        w_(test::random_normal({tokens, heads}, 33, DType::kF64, 1.0, false)) {}
  std::string name() const override { return "toy"; }
  bool selects(int layer) const override { return layer == layer_; }
  void request(const PackedSequences&, int64_t, AttentionStatsRequest& s) const override {
    s.entropy = s.key_mass = true;
    s.key_mass_row_weights = w_;
  }
  Tensor term(int, const AttentionLossInputs& in) const override {
    const AttentionStats& st = in.stats;
    return scale(add(sum(mul(st.entropy, a_)), sum(mul(st.key_mass, b_))), weight_);
  }

 private:
  int layer_;
  double weight_;
  Tensor a_, b_, w_;
};

TEST(Gradcheck, AttentionLossHookThroughTheCoreBackward) {
  for (auto kind : {cfg::Attention::SOFTMAX, cfg::Attention::SINK, cfg::Attention::GATED,
                    cfg::Attention::AFFINE_SCALED, cfg::Attention::MOH}) {
    SCOPED_TRACE(cfg::Attention::Kind_Name(kind));
    EXPECT_TRUE(test::gradcheck_loss_through_layer(test::default_attention(kind),
                                                   [](const AttentionSpec& spec) {
                                                     return std::make_unique<ToyLoss>(
                                                         spec.layer, 8, spec.heads, 0.7);
                                                   },
                                                   {.output_weight = 1.0}));
  }
}

TEST(AttentionLoss, DifferentialVariantsRefuseIt) {
  for (auto kind : {cfg::Attention::DIFFERENTIAL, cfg::Attention::GROUPED_DIFFERENTIAL}) {
    const AttentionSpec spec = test::small_spec(test::default_attention(kind), 4, 4);
    ParamStore store(DType::kF64);
    std::unique_ptr<AttentionLayer> layer = make_attention(store, "attn", spec);
    store.finalize();
    store.initialize(3);
    const PackedSequences seq = test::two_documents();
    const ToyLoss toy(spec.layer, 8, spec.heads, 1.0);
    const std::vector<const AttentionLoss*> losses{&toy};
    std::vector<AttentionLossTerm> terms;
    AttentionContext ctx{seq, local_core_attention()};
    ctx.attention_losses = &losses;
    ctx.attention_loss_terms = &terms;
    try {
      layer->forward(test::random_normal({8, spec.width}, 4), ctx);
      ADD_FAILURE() << cfg::Attention::Kind_Name(kind) << " ignored an attention loss";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kConfig);
    }
  }
}

TEST(AttentionLoss, TheModelAddsTheSelectedLayersTerms) {
  GptConfig c;
  c.vocab_size = 8, c.width = 8, c.layers = 2, c.heads = 2, c.kv_heads = 2, c.mlp_hidden = 16;
  c.attention = test::default_attention(cfg::Attention::SOFTMAX);
  ParamStore store(DType::kF64);
  Gpt model(store, c);
  store.finalize();
  store.initialize(5);
  GptInput in;
  in.tokens = Tensor::from_vector<int32_t>({8}, {1, 5, 2, 6, 0, 3, 3, 4});
  in.targets = Tensor::from_vector<int32_t>({8}, {5, 2, 6, 0, 3, 3, 4, 1});
  in.seq = test::two_documents();
  GptForward train;
  train.training = true;
  const double plain = model.loss(in, train).item();
  const ToyLoss toy(1, 8, 2, 0.5);
  model.set_attention_losses({&toy});
  std::vector<AttentionLossTerm> terms;
  train.attention_loss_terms = &terms;
  const double with = model.loss(in, train).item();
  ASSERT_EQ(terms.size(), 1u);  // layer 1 only
  EXPECT_EQ(terms[0].layer, 1);
  EXPECT_EQ(terms[0].name, "toy");
  EXPECT_NEAR(with, plain + terms[0].value.item(), 1e-12);
  EXPECT_NE(terms[0].value.item(), 0.0);
  // Evaluation forwards leave the objective alone.
  EXPECT_DOUBLE_EQ(model.loss(in).item(), model.loss(in, GptForward{}).item());
}

}  // namespace
}  // namespace attn
