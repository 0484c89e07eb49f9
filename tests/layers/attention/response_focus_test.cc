// Response focus (layers/attention/response_focus.h): sink mass and context engagement from the
// fused statistics equal the definitions evaluated on dense probabilities, per layer and over
// several documents, with a sink column (its mass counts for neither).
#include <gtest/gtest.h>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/rng/philox.h"
#include "layers/attention/response_focus.h"

namespace attn {
namespace {

Tensor random_tensor(Shape shape, uint64_t seed, double high = 1.0) {
  Tensor t = Tensor::zeros(shape, DType::kF64);
  fill_uniform(t, seed, 0, -high, high);
  return t;
}

TEST(ResponseFocus, MatchesTheDefinitionsOnDenseProbabilities) {
  // Two documents: 6 context + 4 response tokens, and 3 context + 3 response tokens.
  const int32_t C = 0, R = 1;
  const std::vector<int32_t> roles = {C, C, C, C, C, C, R, R, R, R, C, C, C, R, R, R};
  const std::vector<int32_t> cu = {0, 10, 16};
  const int64_t n = 16, heads = 4, kv_heads = 2, d = 8;
  std::vector<int32_t> pos;
  for (size_t b = 0; b + 1 < cu.size(); ++b)
    for (int32_t t = 0; t < cu[b + 1] - cu[b]; ++t) pos.push_back(t);
  PackedSequences seq;
  seq.positions = Tensor::from_vector<int32_t>({n}, pos);
  seq.cu_seqlens = Tensor::from_vector<int32_t>({3}, cu);
  seq.roles = Tensor::from_vector<int32_t>({n}, roles);
  // Large q, so the maps are far from uniform.
  const Tensor q3 = random_tensor({n, heads, d}, 1, 3.0), k = random_tensor({n, kv_heads, d}, 2);
  const Tensor v = random_tensor({n, kv_heads, d}, 3), sink = random_tensor({heads}, 4);

  CoreAttentionOptions o;
  request_response_focus(seq, q3, o);
  EXPECT_TRUE(o.stats.key_mass && o.stats.first_token_mass);
  NoGrad no_grad;
  const CoreAttentionResult res = core_attention(q3, k, v, seq.cu_seqlens, seq.cu_seqlens, sink, o);
  AttentionDiagnostics diag(0.3, /*focus_only=*/true);
  record_response_focus(1, seq, res.stats, diag);
  record_response_focus(1, seq, res.stats, diag);  // sums: the same batch twice, same means

  double sink_mass = 0, context = 0, pairs = 0;
  for (size_t b = 0; b + 1 < cu.size(); ++b) {
    const int64_t t0 = cu[b], len = cu[b + 1] - cu[b];
    auto slice = [&](const Tensor& x) {
      const int64_t h = x.size(1), w = x.size(2);
      std::vector<double> all = x.to_vector<double>();
      return Tensor::from_vector<double>(
          {len, h, w},
          std::vector<double>(all.begin() + t0 * h * w, all.begin() + (t0 + len) * h * w));
    };
    const std::vector<double> p = dense_causal_probabilities(slice(q3), slice(k), sink);
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < len; ++i) {
        if (roles[t0 + i] != R) continue;
        const double* row = &p[(h * len + i) * len];
        sink_mass += row[0];
        for (int64_t j = 1; j < len; ++j)
          if (roles[t0 + j] == C) context += row[j];
        pairs += 1;
      }
  }
  std::map<std::string, double> got;
  for (const auto& [key, value] : diag.values()) got[key] = value;
  ASSERT_EQ(got.size(), 4u);  // focus_only: nothing else
  EXPECT_NEAR(got.at("attn/sink_mass/l1"), sink_mass / pairs, 1e-12);
  EXPECT_NEAR(got.at("attn/context_engagement/l1"), context / pairs, 1e-12);
  EXPECT_NEAR(got.at("attn/sink_mass"), sink_mass / pairs, 1e-12);
  // Neither is trivial, and the sink column takes the rest.
  EXPECT_GT(sink_mass / pairs, 0.01);
  EXPECT_GT(context / pairs, 0.05);
  EXPECT_LT((sink_mass + context) / pairs, 0.999);
}

TEST(ResponseFocus, BatchesWithoutRolesRecordNothing) {
  PackedSequences seq;
  CoreAttentionOptions o;
  request_response_focus(seq, Tensor::zeros({2, 1, 4}, DType::kF64), o);
  EXPECT_FALSE(o.stats.key_mass);
  AttentionDiagnostics diag;
  record_response_focus(0, seq, {}, diag);
  EXPECT_TRUE(diag.values().empty());
}

}  // namespace
}  // namespace attn
