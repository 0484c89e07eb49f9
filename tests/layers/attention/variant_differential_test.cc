// DIFFERENTIAL and GROUPED_DIFFERENTIAL attention: float64 gradient checks of the whole layer,
// lambda and lambda_init against closed forms, diagnostics, dense maps and config rejection.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "layers/attention/differential_common.h"
#include "tests/layers/attention/variant_test_util.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::default_attention;
using test::expect_causal_rows_sum_to;
using test::expect_config_error;
using test::gradcheck_variant;
using test::small_spec;
using test::two_documents;
using Kind = attnlab::config::Attention;

attnlab::config::Attention grouped(int ratio) {
  attnlab::config::Attention a = default_attention(Kind::GROUPED_DIFFERENTIAL);
  a.mutable_grouped_differential()->set_group_ratio(ratio);
  return a;
}

// Width 8, `heads` query/key maps of width `head_dim`.
AttentionSpec spec_of(const attnlab::config::Attention& a, int64_t heads, int64_t kv_heads,
                      int64_t head_dim, bool rope) {
  AttentionSpec s = small_spec(a, heads, kv_heads, rope);
  s.head_dim = head_dim;
  return s;
}

TEST(Gradcheck, AttentionDifferential) {
  attnlab::config::Attention a = default_attention(Kind::DIFFERENTIAL);
  a.mutable_differential()->set_lambda_init_std(0.5);          // lambda gradients well above noise
  EXPECT_TRUE(gradcheck_variant(spec_of(a, 4, 4, 2, false)));  // 2 heads, value width 4
  EXPECT_TRUE(gradcheck_variant(spec_of(a, 2, 2, 4, true)));   // RoPE
  a.set_qk_norm(true);
  EXPECT_TRUE(gradcheck_variant(spec_of(a, 4, 2, 4, true)));  // GQA: 2 heads share 1 kv group
  a.set_window(2);
  EXPECT_TRUE(gradcheck_variant(spec_of(a, 4, 4, 2, false)));  // sliding window
}

TEST(Gradcheck, AttentionGroupedDifferential) {
  attnlab::config::Attention a = grouped(1);
  a.mutable_differential()->set_lambda_init_std(0.5);
  EXPECT_TRUE(gradcheck_variant(spec_of(a, 4, 4, 2, false)));  // 2 signal, 2 noise maps
  a.mutable_grouped_differential()->set_group_ratio(3);
  EXPECT_TRUE(gradcheck_variant(spec_of(a, 4, 4, 4, true)));  // 3 signal heads share 1 noise map
  a.set_qk_norm(true);
  EXPECT_TRUE(gradcheck_variant(spec_of(a, 8, 8, 2, true)));  // 6 signal heads, 2 groups
}

TEST(Differential, LambdaInitPerLayer) {
  EXPECT_NEAR(differential_lambda_init(0), 0.2, 1e-15);
  EXPECT_NEAR(differential_lambda_init(3), 0.8 - 0.6 * std::exp(-0.9), 1e-15);
  EXPECT_LT(differential_lambda_init(20), 0.8);
  EXPECT_GT(differential_lambda_init(20), 0.79);
}

void set_param(ParamStore& store, const std::string& name, const std::vector<double>& v) {
  Tensor t = store.find(name).tensor;
  ASSERT_EQ(t.numel(), static_cast<int64_t>(v.size())) << name;
  for (size_t i = 0; i < v.size(); ++i) t.data<double>()[i] = v[i];
}

std::map<std::string, double> diagnose(AttentionLayer& layer, const Tensor& x) {
  AttentionDiagnostics d;
  const PackedSequences seq = two_documents();
  AttentionContext ctx{seq, local_core_attention()};
  ctx.diagnostics = &d;
  NoGrad no_grad;
  layer.forward(x, ctx);
  const auto v = d.values();
  return {v.begin(), v.end()};
}

TEST(Differential, LambdaClosedForm) {
  for (Kind::Kind kind : {Kind::DIFFERENTIAL, Kind::GROUPED_DIFFERENTIAL}) {
    for (int layer : {0, 3}) {
      attnlab::config::Attention a = default_attention(kind);
      AttentionSpec spec = spec_of(a, 4, 4, 2, false);
      spec.layer = layer;
      ParamStore store(DType::kF64);
      std::unique_ptr<AttentionLayer> l = make_attention(store, "attn", spec);
      store.finalize();
      store.initialize(5);
      const double init = differential_lambda_init(layer);
      // lq = lk = 0: lambda = e^0 - e^0 + lambda_init.
      for (const char* p : {"attn.lambda_q1", "attn.lambda_k1", "attn.lambda_q2", "attn.lambda_k2"})
        set_param(store, p, {0, 0});
      EXPECT_NEAR(
          diagnose(*l, test::random_normal({8, 8}, 9)).at(fmt::format("attn/lambda/l{}", layer)),
          init, 1e-15);
      // lq1 . lk1 = 0.5, lq2 . lk2 = -0.25: lambda = e^0.5 - e^-0.25 + lambda_init.
      set_param(store, "attn.lambda_q1", {1.0, 0.5});
      set_param(store, "attn.lambda_k1", {0.3, 0.4});
      set_param(store, "attn.lambda_q2", {-0.5, 0.25});
      set_param(store, "attn.lambda_k2", {0.5, 0.0});
      EXPECT_NEAR(
          diagnose(*l, test::random_normal({8, 8}, 9)).at(fmt::format("attn/lambda/l{}", layer)),
          std::exp(0.5) - std::exp(-0.25) + init, 1e-14);
    }
  }
}

// With q = k = 0 every map is uniform over the N visible keys, so A1 - lambda A2 gives the first
// key (1 - lambda) / N and the entropy of A1 is log N.
TEST(Differential, DiagnosticsOnUniformMaps) {
  const std::vector<double> visible{2, 3, 2, 3, 4, 5};  // rows at positions >= 1
  for (Kind::Kind kind : {Kind::DIFFERENTIAL, Kind::GROUPED_DIFFERENTIAL}) {
    ParamStore store(DType::kF64);
    std::unique_ptr<AttentionLayer> l =
        make_attention(store, "attn", spec_of(default_attention(kind), 4, 4, 2, false));
    store.finalize();
    store.initialize(2);
    for (const char* name : {"attn.qkv.weight", "attn.qkv.bias"}) {
      Tensor t = store.find(name).tensor;  // a handle aliasing the parameter
      t.zero_();
    }
    const auto v = diagnose(*l, test::random_normal({8, 8}, 9));
    ASSERT_TRUE(v.count("attn/lambda/l1")) << Kind::Kind_Name(kind);
    const double lambda = v.at("attn/lambda/l1");
    double ftm = 0, ent = 0;
    for (double n : visible) {
      ftm += (1 - lambda) / n / visible.size();
      ent += std::log(n) / visible.size();
    }
    const int64_t heads = kind == Kind::DIFFERENTIAL ? 2 : 3;  // group_ratio 3 by default
    for (int64_t h = 0; h < heads; ++h) {
      EXPECT_NEAR(v.at(fmt::format("attn/first_token_mass/l1h{}", h)), ftm, 1e-12);
      EXPECT_NEAR(v.at(fmt::format("attn/entropy/l1h{}", h)), ent, 1e-12);
    }
    EXPECT_FALSE(v.count(fmt::format("attn/first_token_mass/l1h{}", heads)));
  }
}

TEST(Differential, MapIsSignalMinusLambdaNoise) {
  for (Kind::Kind kind : {Kind::DIFFERENTIAL, Kind::GROUPED_DIFFERENTIAL}) {
    ParamStore store(DType::kF64);
    AttentionSpec spec = spec_of(default_attention(kind), 4, 4, 2, true);
    std::unique_ptr<AttentionLayer> l = make_attention(store, "attn", spec);
    store.finalize();
    store.initialize(4);
    PackedSequences seq;
    seq.positions = Tensor::from_vector<int32_t>({5}, {0, 1, 2, 3, 4});
    seq.cu_seqlens = Tensor::from_vector<int32_t>({2}, {0, 5});
    AttentionMapRequest map;
    map.layer = 1;
    AttentionDiagnostics d;
    AttentionContext ctx{seq, local_core_attention()};
    ctx.map = &map;
    ctx.diagnostics = &d;
    NoGrad no_grad;
    l->forward(test::random_normal({5, 8}, 6), ctx);
    const auto list = d.values();
    const std::map<std::string, double> values(list.begin(), list.end());
    const double lambda = values.at("attn/lambda/l1");
    const int64_t heads = kind == Kind::DIFFERENTIAL ? 2 : 3;
    ASSERT_EQ(map.heads, heads);
    ASSERT_EQ(map.tokens, 5);
    EXPECT_FALSE(map.description.empty());
    // Each map's rows sum to 1, so rows of A1 - lambda A2 sum to 1 - lambda.
    expect_causal_rows_sum_to(map, 1 - lambda, Kind::Kind_Name(kind));
    // Row 1 sees keys 0 and 1: the map's first-key weight matches the diagnostics' ftm average
    // over rows 1..4 of head 0.
    double ftm = 0;
    for (int64_t i = 1; i < 5; ++i) ftm += map.weights[i * 5] / 4;
    EXPECT_NEAR(values.at("attn/first_token_mass/l1h0"), ftm, 1e-12);
  }
}

TEST(Differential, ParameterLayout) {
  attnlab::config::Attention a = default_attention(Kind::DIFFERENTIAL);
  a.set_qk_norm(true);
  ParamStore store(DType::kF64);
  make_attention(store, "attn", spec_of(a, 4, 2, 2, false));  // 2 heads, 1 kv group, d = 2
  std::vector<std::string> names;
  for (const ParamInfo& p : store.params()) names.push_back(p.name + p.tensor.shape().str());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "attn.qkv.weight[16, 8]", "attn.qkv.bias[16]", "attn.q_norm.weight[2]",
                       "attn.k_norm.weight[2]", "attn.lambda_q1[2]", "attn.lambda_k1[2]",
                       "attn.lambda_q2[2]", "attn.lambda_k2[2]", "attn.subln.weight[4]",
                       "attn.proj.weight[8, 8]", "attn.proj.bias[8]"}));
  for (const ParamInfo& p : store.params())
    if (p.name.find("lambda") != std::string::npos || p.name.find("subln") != std::string::npos) {
      EXPECT_FALSE(p.weight_decay) << p.name;
    }

  ParamStore gstore(DType::kF64);
  make_attention(gstore, "attn", spec_of(grouped(3), 8, 8, 2, false));  // H1 = 6, H2 = 2
  EXPECT_EQ(gstore.find("attn.qkv.weight").tensor.shape(), Shape({3 * 6 * 2 + 2 * 2 * 2, 8}));
  EXPECT_EQ(gstore.find("attn.subln.weight").tensor.shape(), Shape({2}));
  EXPECT_EQ(gstore.find("attn.proj.weight").tensor.shape(), Shape({8, 6 * 2}));
}

// Plain-loop reference of both variants from the documented parameter layout (no RoPE/QK-norm):
// the output [n, width] of x [n, width] on the packed documents `cu`.
struct Reference {
  const ParamStore& store;
  int64_t width, heads, kv_heads, d, ratio;  // ratio 0: DIFFERENTIAL, else GDA group_ratio
  int layer;

  std::vector<double> param(const std::string& name) const {
    return store.find(name).tensor.to_vector<double>();
  }

  // Causal softmax weights of query row i (columns at `qc` of y) over the keys (columns at `kc`)
  // of its document, scale 1/sqrt(d): w[j - begin].
  std::vector<double> weights(const std::vector<double>& y, int64_t cols, int64_t i, int64_t begin,
                              int64_t qc, int64_t kc) const {
    std::vector<double> w;
    double m = -1e300, s = 0;
    for (int64_t j = begin; j <= i; ++j) {
      double dot = 0;
      for (int64_t c = 0; c < d; ++c) dot += y[i * cols + qc + c] * y[j * cols + kc + c];
      w.push_back(dot / std::sqrt(static_cast<double>(d)));
      m = std::max(m, w.back());
    }
    for (double& v : w) s += (v = std::exp(v - m));
    for (double& v : w) v /= s;
    return w;
  }

  std::vector<double> forward(const std::vector<double>& x, const std::vector<int32_t>& cu) const {
    const int64_t n = static_cast<int64_t>(x.size()) / width;
    const std::vector<double> wq = param("attn.qkv.weight"), bq = param("attn.qkv.bias");
    const int64_t cols = static_cast<int64_t>(bq.size());
    std::vector<double> y(n * cols);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t o = 0; o < cols; ++o) {
        double s = bq[o];
        for (int64_t c = 0; c < width; ++c) s += x[i * width + c] * wq[o * width + c];
        y[i * cols + o] = s;
      }
    const auto dot = [&](const char* a, const char* b) {
      const std::vector<double> u = param(a), v = param(b);
      double s = 0;
      for (int64_t c = 0; c < d; ++c) s += u[c] * v[c];
      return s;
    };
    const double init = 0.8 - 0.6 * std::exp(-0.3 * layer);
    const double lambda = std::exp(dot("attn.lambda_q1", "attn.lambda_k1")) -
                          std::exp(dot("attn.lambda_q2", "attn.lambda_k2")) + init;
    // Column offsets of (q1, k1, q2, k2, v) per output head, value width dv.
    int64_t out_heads, dv;
    std::vector<std::array<int64_t, 5>> at;
    if (ratio == 0) {
      out_heads = heads / 2, dv = 2 * d;
      const int64_t per_group = heads / kv_heads;
      for (int64_t h = 0; h < out_heads; ++h) {
        const int64_t g = h / per_group;
        at.push_back({2 * h * d, heads * d + 2 * g * d, (2 * h + 1) * d,
                      heads * d + (2 * g + 1) * d, (heads + kv_heads) * d + g * dv});
      }
    } else {
      const int64_t h2 = heads / (ratio + 1), h1 = ratio * h2;
      out_heads = h1, dv = d;
      for (int64_t h = 0; h < h1; ++h)
        at.push_back({h * d, (h1 + h) * d, (3 * h1 + h / ratio) * d, (3 * h1 + h2 + h / ratio) * d,
                      (2 * h1 + h) * d});
    }
    const std::vector<double> gain = param("attn.subln.weight");
    std::vector<double> o(n * out_heads * dv, 0.0);
    for (size_t doc = 0; doc + 1 < cu.size(); ++doc)
      for (int64_t i = cu[doc]; i < cu[doc + 1]; ++i)
        for (int64_t h = 0; h < out_heads; ++h) {
          const auto& a = at[h];
          const std::vector<double> w1 = weights(y, cols, i, cu[doc], a[0], a[1]);
          const std::vector<double> w2 = weights(y, cols, i, cu[doc], a[2], a[3]);
          double* row = &o[(i * out_heads + h) * dv];
          for (int64_t j = cu[doc]; j <= i; ++j)
            for (int64_t c = 0; c < dv; ++c)
              row[c] += (w1[j - cu[doc]] - lambda * w2[j - cu[doc]]) * y[j * cols + a[4] + c];
          double ms = 0;
          for (int64_t c = 0; c < dv; ++c) ms += row[c] * row[c] / dv;
          const double rstd = 1 / std::sqrt(ms + 1e-5);
          for (int64_t c = 0; c < dv; ++c) row[c] *= rstd * gain[c] * (1 - init);
        }
    const std::vector<double> wp = param("attn.proj.weight"), bp = param("attn.proj.bias");
    const int64_t in = out_heads * dv;
    std::vector<double> out(n * width);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < width; ++c) {
        double s = bp[c];
        for (int64_t k = 0; k < in; ++k) s += o[i * in + k] * wp[c * in + k];
        out[i * width + c] = s;
      }
    return out;
  }
};

TEST(Differential, ForwardMatchesPlainLoopReference) {
  struct Case {
    attnlab::config::Attention a;
    int64_t heads, kv_heads, d, ratio;
  };
  attnlab::config::Attention diff = default_attention(Kind::DIFFERENTIAL);
  diff.mutable_differential()->set_lambda_init_std(0.5);
  attnlab::config::Attention g1 = grouped(1), g3 = grouped(3);
  g1.mutable_differential()->set_lambda_init_std(0.5);
  g3.mutable_differential()->set_lambda_init_std(0.5);
  for (const Case& c : {Case{diff, 4, 4, 2, 0}, Case{diff, 8, 4, 2, 0}, Case{diff, 4, 2, 4, 0},
                        Case{g1, 4, 4, 2, 1}, Case{g3, 8, 8, 2, 3}, Case{g3, 4, 4, 4, 3}}) {
    AttentionSpec spec = spec_of(c.a, c.heads, c.kv_heads, c.d, false);
    spec.layer = 2;
    ParamStore store(DType::kF64);
    std::unique_ptr<AttentionLayer> l = make_attention(store, "attn", spec);
    store.finalize();
    store.initialize(8);
    test::perturb_constant_params(store);
    const PackedSequences seq = two_documents();
    const Tensor x = test::random_normal({8, 8}, 12, DType::kF64, 1.0, false);
    AttentionContext ctx{seq, local_core_attention()};
    NoGrad no_grad;
    const std::vector<double> got = l->forward(x, ctx).to_vector<double>();
    const Reference ref{store, 8, c.heads, c.kv_heads, c.d, c.ratio, 2};
    const std::vector<double> want =
        ref.forward(x.to_vector<double>(), seq.cu_seqlens.to_vector<int32_t>());
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-12) << "heads " << c.heads << " kv " << c.kv_heads
                                          << " ratio " << c.ratio << " element " << i;
  }
}

TEST(Differential, RejectsBadConfigs) {
  expect_config_error(spec_of(default_attention(Kind::DIFFERENTIAL), 3, 3, 2, false),
                      "model.heads");
  expect_config_error(spec_of(default_attention(Kind::DIFFERENTIAL), 4, 1, 2, false),
                      "model.kv_heads");
  expect_config_error(spec_of(grouped(2), 4, 4, 2, false),
                      "attention.grouped_differential.group_ratio");
  expect_config_error(spec_of(grouped(1), 4, 2, 2, false), "model.kv_heads");
}

}  // namespace
}  // namespace attn
