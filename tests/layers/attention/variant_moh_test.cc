// MOH attention: float64 gradient checks of the layer and of the load-balance loss, the top-k
// mask as a constant of the router probabilities, the forward against the head gates computed by
// hand, head-usage diagnostics and config rejection.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "tests/layers/attention/variant_test_util.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::default_attention;
using test::expect_config_error;
using test::small_spec;
using test::two_documents;
using Kind = attnlab::config::Attention;

attnlab::config::Attention moh(int shared, int top_k, double balance = 0.01) {
  attnlab::config::Attention a = default_attention(Kind::MOH);
  a.mutable_moh()->set_shared_heads(shared);
  a.mutable_moh()->set_top_k(top_k);
  a.mutable_moh()->set_balance_weight(balance);
  return a;
}

// Row-wise softmax of x W^T: x [n, in], w [out, in].
std::vector<double> softmax_rows(const std::vector<double>& x, const std::vector<double>& w,
                                 int64_t in) {
  const int64_t n = static_cast<int64_t>(x.size()) / in, out = static_cast<int64_t>(w.size()) / in;
  std::vector<double> p(n * out);
  for (int64_t i = 0; i < n; ++i) {
    double m = -1e300, s = 0;
    for (int64_t o = 0; o < out; ++o) {
      double z = 0;
      for (int64_t c = 0; c < in; ++c) z += x[i * in + c] * w[o * in + c];
      m = std::max(m, p[i * out + o] = z);
    }
    for (int64_t o = 0; o < out; ++o) s += (p[i * out + o] = std::exp(p[i * out + o] - m));
    for (int64_t o = 0; o < out; ++o) p[i * out + o] /= s;
  }
  return p;
}

// Indices of the k largest entries of each row (ties: lower index), as a 0/1 mask.
std::vector<int> topk(const std::vector<double>& p, int64_t cols, int64_t k) {
  std::vector<int> mask(p.size(), 0);
  for (size_t r = 0; r < p.size() / cols; ++r) {
    std::vector<int64_t> idx(cols);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(),
                     [&](int64_t a, int64_t b) { return p[r * cols + a] > p[r * cols + b]; });
    for (int64_t j = 0; j < k; ++j) mask[r * cols + idx[j]] = 1;
  }
  return mask;
}

// Smallest gap between the k-th and (k+1)-th router probability over the rows (1 when k = E).
double routing_gap(const std::vector<double>& p, int64_t cols, int64_t k) {
  if (k == cols) return 1.0;
  double gap = 1.0;
  for (size_t r = 0; r < p.size() / cols; ++r) {
    std::vector<double> row(p.begin() + r * cols, p.begin() + (r + 1) * cols);
    std::sort(row.rbegin(), row.rend());
    gap = std::min(gap, row[k - 1] - row[k]);
  }
  return gap;
}

struct MohLayer {
  ParamStore store{DType::kF64};
  std::unique_ptr<AttentionLayer> layer;
  MohLayer(const AttentionSpec& spec, uint64_t seed) {
    layer = make_attention(store, "attn", spec);
    store.finalize();
    store.initialize(seed);
    test::perturb_constant_params(store);
  }
  std::vector<double> param(const std::string& name) const {
    return store.find(name).tensor.to_vector<double>();
  }
  std::map<std::string, double> diagnose(const Tensor& x, const PackedSequences& seq) {
    AttentionDiagnostics d;
    AttentionContext ctx{seq, local_core_attention()};
    ctx.diagnostics = &d;
    NoGrad no_grad;
    layer->forward(x, ctx);
    const auto v = d.values();
    return {v.begin(), v.end()};
  }
};

TEST(Gradcheck, AttentionMoh) {
  struct Case {
    attnlab::config::Attention a;
    int64_t heads, kv_heads;
    bool rope;
  };
  attnlab::config::Attention qk = moh(2, 1);
  qk.set_qk_norm(true);
  for (const Case& c : {Case{moh(1, 2), 4, 4, false}, Case{qk, 4, 2, true},
                        Case{moh(0, 2), 4, 4, true}, Case{moh(3, 1), 4, 4, false}}) {
    const AttentionSpec spec = small_spec(c.a, c.heads, c.kv_heads, c.rope);
    // The mask is piecewise constant: check at a point where no routing decision is near a tie
    // (the same parameters and input gradcheck_variant uses).
    MohLayer l(spec, 3);
    const int64_t routed = c.heads - c.a.moh().shared_heads();
    const std::vector<double> x = test::random_normal({8, 8}, 103).to_vector<double>();
    EXPECT_GT(
        routing_gap(softmax_rows(x, l.param("attn.router.weight"), 8), routed, c.a.moh().top_k()),
        1e-3);
    EXPECT_TRUE(test::gradcheck_variant(spec, 3))
        << "shared " << c.a.moh().shared_heads() << " top_k " << c.a.moh().top_k();
  }
}

TEST(Gradcheck, AttentionMohBalanceLoss) {
  const AttentionSpec spec = small_spec(moh(1, 2, 0.5), 4, 4);
  MohLayer l(spec, 3);
  const PackedSequences seq = two_documents();
  const Tensor x = test::random_normal({8, 8}, 103);
  const Tensor router = l.store.find("attn.router.weight").tensor;
  auto aux_loss = [&](const std::vector<Tensor>& in) {
    std::vector<Tensor> aux;
    AttentionContext ctx{seq, local_core_attention()};
    ctx.aux_losses = &aux;
    l.layer->forward(in[0], ctx);
    EXPECT_EQ(aux.size(), 1u);
    return aux.at(0);
  };
  const Tensor loss = aux_loss({x, router});
  clear_tape();
  EXPECT_EQ(loss.shape(), Shape{});
  // L = E^2 mean_e(mean_tokens(p_e) f_e) * weight / num_layers.
  const std::vector<double> p =
      softmax_rows(x.to_vector<double>(), l.param("attn.router.weight"), 8);
  const std::vector<int> mask = topk(p, 3, 2);
  double want = 0;
  for (int64_t e = 0; e < 3; ++e) {
    double pm = 0, f = 0;
    for (int64_t i = 0; i < 8; ++i) pm += p[i * 3 + e] / 8, f += mask[i * 3 + e] / 8.0;
    want += pm * f / 3;
  }
  want *= 9 * 0.5 / 2;
  EXPECT_NEAR(loss.item(), want, 1e-14);
  EXPECT_TRUE(test::gradcheck(aux_loss, {x, router}, {.eps = 1e-6, .atol = 1e-10, .rtol = 1e-6}));

  // No loss without a collector or with weight 0.
  MohLayer off(small_spec(moh(1, 2, 0.0), 4, 4), 3);
  std::vector<Tensor> aux;
  AttentionContext ctx{seq, local_core_attention()};
  ctx.aux_losses = &aux;
  NoGrad no_grad;
  off.layer->forward(x, ctx);
  EXPECT_TRUE(aux.empty());
}

// One token per batch: its head usage is its top-k mask. A perturbation of the input that moves
// every router probability by less than half the gap between the k-th and (k+1)-th keeps the
// mask; larger ones give the top-k of the new probabilities.
TEST(Moh, TopKMaskIsAConstantOfTheRouterProbabilities) {
  const AttentionSpec spec = small_spec(moh(1, 2), 4, 4);
  MohLayer l(spec, 21);
  PackedSequences one;
  one.positions = Tensor::from_vector<int32_t>({1}, {0});
  one.cu_seqlens = Tensor::from_vector<int32_t>({2}, {0, 1});
  const std::vector<double> wr = l.param("attn.router.weight");
  const std::vector<double> x0 = test::random_normal({1, 8}, 31).to_vector<double>();
  const std::vector<double> dir = test::random_normal({1, 8}, 32).to_vector<double>();
  const std::vector<double> p0 = softmax_rows(x0, wr, 8);
  const double gap = routing_gap(p0, 3, 2);
  ASSERT_GT(gap, 1e-3);
  const std::vector<int> mask0 = topk(p0, 3, 2);
  int changed = 0;
  for (double t : {1e-6, 1e-4, 1e-2, 0.1, 0.3, 1.0, 3.0, 10.0}) {
    std::vector<double> x = x0;
    for (size_t c = 0; c < x.size(); ++c) x[c] += t * dir[c];
    const std::vector<double> p = softmax_rows(x, wr, 8);
    double moved = 0;
    for (size_t e = 0; e < p.size(); ++e) moved = std::max(moved, std::abs(p[e] - p0[e]));
    const std::vector<int> want = topk(p, 3, 2);
    if (moved < gap / 2) {
      EXPECT_EQ(want, mask0) << "t " << t;
    }
    changed += want != mask0;
    const auto v = l.diagnose(Tensor::from_vector<double>({1, 8}, x), one);
    EXPECT_EQ(v.at("attn/moh_usage/l1h0"), 1.0);
    for (int64_t e = 0; e < 3; ++e)
      EXPECT_EQ(v.at(fmt::format("attn/moh_usage/l1h{}", e + 1)), want[e]) << "t " << t;
  }
  EXPECT_GT(changed, 0) << "no perturbation crossed a routing decision: the test lost its point";
}

// With the output projection set to the identity, the layer's output is the softmax-attention
// head outputs (same q/k/v parameters) times the head weights computed here by hand.
TEST(Moh, ForwardScalesHeadsByTheirGates) {
  for (int shared : {0, 1, 2}) {
    const int64_t heads = 4, k = 2, routed = heads - shared;
    attnlab::config::Attention a = moh(shared, k);
    MohLayer m(small_spec(a, heads, heads), 5);
    MohLayer s(small_spec(default_attention(Kind::SOFTMAX), heads, heads), 5);
    for (MohLayer* l : {&m, &s}) {
      Tensor w = l->store.find("attn.proj.weight").tensor,
             b = l->store.find("attn.proj.bias").tensor;
      w.zero_();
      b.zero_();
      for (int64_t i = 0; i < 8; ++i) w.data<double>()[i * 8 + i] = 1;
    }
    // Same q/k/v parameters: both start with attn.qkv (and initialise by declaration index).
    ASSERT_EQ(m.param("attn.qkv.weight"), s.param("attn.qkv.weight"));
    ASSERT_EQ(m.param("attn.qkv.bias"), s.param("attn.qkv.bias"));
    const PackedSequences seq = two_documents();
    const Tensor x = test::random_normal({8, 8}, 41, DType::kF64, 1.0, false);
    AttentionContext ctx{seq, local_core_attention()};
    NoGrad no_grad;
    const std::vector<double> got = m.layer->forward(x, ctx).to_vector<double>();
    const std::vector<double> base = s.layer->forward(x, ctx).to_vector<double>();
    const std::vector<double> xv = x.to_vector<double>();
    const std::vector<double> p = softmax_rows(xv, m.param("attn.router.weight"), 8);
    const std::vector<int> mask = topk(p, routed, k);
    for (int64_t i = 0; i < 8; ++i) {
      std::vector<double> weight(heads);
      double sum = 0;
      for (int64_t e = 0; e < routed; ++e) sum += p[i * routed + e] * mask[i * routed + e];
      double a_s = 1, a_r = 1;
      if (shared > 0) {
        const std::vector<double> xi(xv.begin() + i * 8, xv.begin() + (i + 1) * 8);
        const std::vector<double> mix = softmax_rows(xi, m.param("attn.mix.weight"), 8);
        a_s = 2 * mix[0], a_r = 2 * mix[1];
        const std::vector<double> sh =
            shared > 1 ? softmax_rows(xi, m.param("attn.shared_router.weight"), 8)
                       : std::vector<double>{1.0};
        for (int64_t h = 0; h < shared; ++h) weight[h] = a_s * shared * sh[h];
      }
      for (int64_t e = 0; e < routed; ++e)
        weight[shared + e] = a_r * k * p[i * routed + e] * mask[i * routed + e] / sum;
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t c = 0; c < 2; ++c)
          EXPECT_NEAR(got[i * 8 + h * 2 + c], weight[h] * base[i * 8 + h * 2 + c], 1e-12)
              << "shared " << shared << " token " << i << " head " << h;
    }
  }
}

TEST(Moh, ParameterLayout) {
  for (int shared : {0, 1, 2}) {
    ParamStore store(DType::kF64);
    make_attention(store, "attn", small_spec(moh(shared, 1), 4, 2));
    std::vector<std::string> names;
    for (const ParamInfo& p : store.params()) names.push_back(p.name + p.tensor.shape().str());
    std::vector<std::string> want{"attn.qkv.weight[16, 8]", "attn.qkv.bias[16]",
                                  "attn.proj.weight[8, 8]", "attn.proj.bias[8]",
                                  fmt::format("attn.router.weight[{}, 8]", 4 - shared)};
    if (shared > 1) want.push_back(fmt::format("attn.shared_router.weight[{}, 8]", shared));
    if (shared > 0) want.push_back("attn.mix.weight[2, 8]");
    EXPECT_EQ(names, want);
  }
}

TEST(Moh, UsageDiagnostics) {
  MohLayer l(small_spec(moh(1, 2), 4, 4), 7);
  const auto v = l.diagnose(test::random_normal({8, 8}, 8), two_documents());
  EXPECT_EQ(v.at("attn/moh_usage/l1h0"), 1.0);
  double routed = 0;
  for (int h = 1; h < 4; ++h) {
    const double u = v.at(fmt::format("attn/moh_usage/l1h{}", h));
    EXPECT_GE(u, 0.0);
    EXPECT_LE(u, 1.0);
    routed += u;
  }
  EXPECT_NEAR(routed, 2.0, 1e-12);
  EXPECT_TRUE(v.count("attn/first_token_mass/l1h3"));  // the default maps of every head
  EXPECT_FALSE(v.count("attn/moh_usage/l1h4"));
}

TEST(Moh, RejectsBadConfigs) {
  expect_config_error(small_spec(moh(4, 1), 4, 4), "attention.moh.shared_heads");
  expect_config_error(small_spec(moh(-1, 1), 4, 4), "attention.moh.shared_heads");
  expect_config_error(small_spec(moh(1, 4), 4, 4), "attention.moh.top_k");  // E = 3
  expect_config_error(small_spec(moh(1, 0), 4, 4), "attention.moh.top_k");
}

}  // namespace
}  // namespace attn
