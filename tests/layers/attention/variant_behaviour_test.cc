// Behaviour of the attention variants beyond their gradients: the registry, the affine moving
// average in train vs eval forwards, and SPEC-10 diagnostics against closed forms on uniform maps.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/matmul.h"
#include "tests/layers/attention/variant_test_util.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::default_attention;
using test::expect_causal_rows_sum_to;
using test::small_spec;
using test::two_documents;
using Kind = attnlab::config::Attention;

void set_param(ParamStore& store, const std::string& name, double value) {
  Tensor t = store.find(name).tensor;  // a handle aliasing the parameter's memory
  t.fill_(value);
}

// Builds a layer of `spec` whose parameters are all zero: q = k = v = 0, so every row attends
// uniformly to its visible keys.
struct ZeroLayer {
  ParamStore store{DType::kF64};
  std::unique_ptr<AttentionLayer> layer;
  explicit ZeroLayer(const AttentionSpec& spec) {
    layer = make_attention(store, "attn", spec);
    store.finalize();
  }
  std::map<std::string, double> diagnose() {
    AttentionDiagnostics d;
    const PackedSequences seq = two_documents();
    AttentionContext ctx{seq, local_core_attention()};
    ctx.diagnostics = &d;
    NoGrad no_grad;
    layer->forward(test::random_normal({8, 8}, 5), ctx);
    const auto v = d.values();
    return {v.begin(), v.end()};
  }
};

// Rows at positions >= 1 of documents of 3 and 5 tokens see N = 2, 3, 2, 3, 4, 5 keys.
const std::vector<double> kVisible{2, 3, 2, 3, 4, 5};

double mean_over_rows(double (*f)(double)) {
  double s = 0;
  for (double n : kVisible) s += f(n);
  return s / static_cast<double>(kVisible.size());
}

TEST(AttentionRegistry, EveryKindOfTheSchemaIsBuiltIn) {
  for (int k = Kind::Kind_MIN; k <= Kind::Kind_MAX; ++k)
    if (Kind::Kind_IsValid(k)) {
      EXPECT_TRUE(attention_kind_available(static_cast<Kind::Kind>(k))) << Kind::Kind_Name(k);
    }
}

TEST(AttentionRegistry, RejectsKvHeadsNotDividingHeads) {
  ParamStore store;
  AttentionSpec spec = small_spec(default_attention(Kind::SOFTMAX), 4, 3);
  EXPECT_THROW(make_attention(store, "attn", spec), Error);
}

TEST(AttentionDiagnostics, UniformMapsMatchClosedForms) {
  ZeroLayer z(small_spec(default_attention(Kind::SOFTMAX)));
  auto v = z.diagnose();
  const double ftm = mean_over_rows([](double n) { return 1.0 / n; });
  const double ent = mean_over_rows([](double n) { return std::log(n); });
  EXPECT_NEAR(v.at("attn/first_token_mass"), ftm, 1e-12);
  EXPECT_NEAR(v.at("attn/first_token_mass/l1h0"), ftm, 1e-12);
  EXPECT_NEAR(v.at("attn/first_token_mass/l1"), ftm, 1e-12);
  EXPECT_NEAR(v.at("attn/entropy"), ent, 1e-12);
  EXPECT_NEAR(v.at("attn/entropy_norm"), 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(v.at("attn/sink_head_ratio"), 1.0);  // 0.353 > 0.3
}

TEST(AttentionDiagnostics, SinkColumnTakesItsShare) {
  attnlab::config::Attention a = default_attention(Kind::SINK);
  a.mutable_sink()->set_mode(attnlab::config::Sink::LEARNABLE);
  ZeroLayer z(small_spec(a));
  set_param(z.store, "attn.sink", std::log(3.0));  // exp(z) = 3: the sink counts 3 keys
  auto v = z.diagnose();
  EXPECT_NEAR(v.at("attn/first_token_mass"), mean_over_rows([](double n) { return 1 / (n + 3); }),
              1e-12);
  // Entropy over N keys of weight 1/(N+3) and the sink of weight 3/(N+3).
  const double ent = mean_over_rows([](double n) {
    const double p = 1 / (n + 3), ps = 3 / (n + 3);
    return -n * p * std::log(p) - ps * std::log(ps);
  });
  EXPECT_NEAR(v.at("attn/entropy"), ent, 1e-12);
  EXPECT_DOUBLE_EQ(v.at("attn/sink_head_ratio"), 0.0);
}

TEST(AttentionDiagnostics, GateMeanAndAffineWeights) {
  ZeroLayer gated(small_spec(default_attention(Kind::GATED)));
  EXPECT_DOUBLE_EQ(gated.diagnose().at("attn/gate_mean/l1"), 0.5);  // sigmoid(0)

  ZeroLayer affine(small_spec(default_attention(Kind::AFFINE_SCALED)));
  // alpha = clamp(0.1 * 0 + 0.5) = 0.5 and alpha_ma = 0.9: the first key gets
  // 0.5 / N + (0.9 - 0.5) / N.
  set_param(affine.store, "attn.alpha_ma", 0.9);
  set_param(affine.store, "attn.alpha_ma_updates", 1);
  auto v = affine.diagnose();
  EXPECT_NEAR(v.at("attn/first_token_mass"), mean_over_rows([](double n) { return 0.9 / n; }),
              1e-12);
  EXPECT_DOUBLE_EQ(v.at("attn/alpha_mean/l1"), 0.5);
  EXPECT_DOUBLE_EQ(v.at("attn/row_weight_sum/l1"), 0.9);
  // The entropy is that of the softmax part.
  EXPECT_NEAR(v.at("attn/entropy"), mean_over_rows([](double n) { return std::log(n); }), 1e-12);
}

TEST(AttentionDiagnostics, MaxActivationIsTheLargestMagnitude) {
  AttentionDiagnostics d;
  const Tensor positions = Tensor::from_vector<int32_t>({2}, {0, 1});
  d.record_residual(0, positions, Tensor::from_vector<float>({2, 2}, {1, -7.5f, 3, 2}));
  d.record_residual(1, positions, Tensor::from_vector<float>({2, 1}, {4, 0}));
  const auto v = d.values();
  const std::map<std::string, double> m(v.begin(), v.end());
  EXPECT_DOUBLE_EQ(m.at("attn/max_activation/l0"), 7.5);
  EXPECT_DOUBLE_EQ(m.at("attn/max_activation/l1"), 4.0);
  EXPECT_DOUBLE_EQ(m.at("attn/max_activation"), 7.5);
}

// Per-head mean of alpha = clamp(0.1 x Walpha^T + 0.5, 0, 1) over the batch.
std::vector<double> alpha_means(const ParamStore& store, const Tensor& x, int64_t heads) {
  NoGrad no_grad;
  const std::vector<double> z =
      matmul(x, store.find("attn.alpha.weight").tensor, false, true).to_vector<double>();
  std::vector<double> m(heads, 0.0);
  const int64_t n = static_cast<int64_t>(z.size()) / heads;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t h = 0; h < heads; ++h)
      m[h] += std::clamp(0.1 * z[i * heads + h] + 0.5, 0.0, 1.0) / static_cast<double>(n);
  return m;
}

TEST(AffineScaled, MovingAverageUpdatesOnlyInTrainingForwards) {
  AttentionSpec spec = small_spec(default_attention(Kind::AFFINE_SCALED));
  spec.init_std = 3.0;  // alphas far from 0.5 and different per head
  ParamStore store(DType::kF64);
  std::unique_ptr<AttentionLayer> layer = make_attention(store, "attn", spec);
  store.finalize();
  store.initialize(11);
  const PackedSequences seq = two_documents();
  const Tensor x1 = test::random_normal({8, 8}, 21, DType::kF64, 1.0, false);
  const Tensor x2 = test::random_normal({8, 8}, 22, DType::kF64, 1.0, false);
  const Tensor ma = store.find("attn.alpha_ma").tensor;
  auto run = [&](const Tensor& x, bool training) {
    NoGrad no_grad;
    AttentionContext ctx{seq, local_core_attention(), training};
    return layer->forward(x, ctx).to_vector<double>();
  };
  const std::vector<double> m1 = alpha_means(store, x1, 2), m2 = alpha_means(store, x2, 2);
  ASSERT_GT(std::abs(m1[0] - m2[0]), 1e-3);

  // The first training forward uses and stores the batch mean.
  const std::vector<double> y1 = run(x1, true);
  EXPECT_NEAR(ma.to_vector<double>()[0], m1[0], 1e-12);
  EXPECT_NEAR(ma.to_vector<double>()[1], m1[1], 1e-12);
  EXPECT_EQ(run(x1, false), y1);  // eval with alpha_ma = m1: the same weights
  EXPECT_NEAR(ma.to_vector<double>()[0], m1[0], 1e-12);  // eval left it alone

  // A later training forward uses the stored average, then folds in its own batch mean.
  const std::vector<double> y2_eval = run(x2, false);
  EXPECT_EQ(run(x2, true), y2_eval);
  EXPECT_NEAR(ma.to_vector<double>()[1], 0.9 * m1[1] + 0.1 * m2[1], 1e-12);
  EXPECT_NE(run(x2, false), y2_eval);  // the new average changes beta
}

TEST(AffineScaled, RejectsSlidingWindow) {
  attnlab::config::Attention a = default_attention(Kind::AFFINE_SCALED);
  a.set_window(4);
  ParamStore store;
  EXPECT_THROW(make_attention(store, "attn", small_spec(a)), Error);
}

TEST(AttentionMap, SoftmaxRowsSumToOneAffineRowsToAlphaMa) {
  for (Kind::Kind kind : {Kind::SOFTMAX, Kind::AFFINE_SCALED}) {
    ParamStore store(DType::kF64);
    std::unique_ptr<AttentionLayer> layer =
        make_attention(store, "attn", small_spec(default_attention(kind)));
    store.finalize();
    store.initialize(4);
    if (kind == Kind::AFFINE_SCALED) {
      set_param(store, "attn.alpha_ma", 0.7);
      set_param(store, "attn.alpha_ma_updates", 1);
    }
    PackedSequences seq;
    seq.positions = Tensor::from_vector<int32_t>({5}, {0, 1, 2, 3, 4});
    seq.cu_seqlens = Tensor::from_vector<int32_t>({2}, {0, 5});
    AttentionMapRequest map;
    map.layer = 1;
    AttentionContext ctx{seq, local_core_attention()};
    ctx.map = &map;
    NoGrad no_grad;
    layer->forward(test::random_normal({5, 8}, 6), ctx);
    ASSERT_EQ(map.heads, 2);
    ASSERT_EQ(map.tokens, 5);
    expect_causal_rows_sum_to(map, kind == Kind::SOFTMAX ? 1.0 : 0.7, Kind::Kind_Name(kind));
  }
}

}  // namespace
}  // namespace attn
