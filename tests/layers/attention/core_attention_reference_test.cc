// The tiled kernel against the materialising reference over a randomized table: forward, lse,
// every fused statistic and every gradient, in f64 to 1e-10.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "layers/attention/core_attention_reference.h"
#include "tests/layers/attention/attention_test_util.h"

namespace attn {
namespace {

using test::AttentionCase;

// |a - b| <= tol * max(1, |b|) elementwise; +inf must match +inf (empty rows' lse).
::testing::AssertionResult close(const std::vector<double>& a, const std::vector<double>& b,
                                 double tol, const char* what) {
  if (a.size() != b.size())
    return ::testing::AssertionFailure() << what << ": sizes " << a.size() << " vs " << b.size();
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isinf(b[i]) && a[i] == b[i]) continue;
    if (!(std::fabs(a[i] - b[i]) <= tol * std::max(1.0, std::fabs(b[i]))))
      return ::testing::AssertionFailure()
             << what << "[" << i << "]: kernel " << a[i] << " reference " << b[i];
  }
  return ::testing::AssertionSuccess();
}

void check_case(const AttentionCase& c, uint64_t seed) {
  SCOPED_TRACE(c.name);
  test::AttentionInputs in = test::make_inputs(c, seed);
  CoreAttentionResult res = core_attention(in.q, in.k, in.v, in.cu_q, in.cu_k, in.sink, c.options);
  backward(sum(mul(res.out, in.dout)));
  ReferenceAttention ref =
      reference_attention(in.q, in.k, in.v, in.cu_q, in.cu_k, in.sink, c.options, in.dout);
  const double tol = 1e-10;
  EXPECT_TRUE(close(res.out.to_vector<double>(), ref.out, tol, "out"));
  EXPECT_TRUE(close(res.lse.to_vector<double>(), ref.lse, tol, "lse"));
  const AttentionStats& st = res.stats;
  EXPECT_TRUE(close(st.entropy.to_vector<double>(), ref.entropy, tol, "entropy"));
  EXPECT_TRUE(close(st.entropy_normalized.to_vector<double>(), ref.entropy_normalized, tol,
                    "entropy_normalized"));
  EXPECT_TRUE(close(st.prob_sq_sum.to_vector<double>(), ref.prob_sq_sum, tol, "prob_sq_sum"));
  EXPECT_TRUE(close(st.first_token_mass.to_vector<double>(), ref.first_token_mass, tol,
                    "first_token_mass"));
  EXPECT_TRUE(close(st.key_mass.to_vector<double>(), ref.key_mass, tol, "key_mass"));
  EXPECT_TRUE(close(in.q.grad().to_vector<double>(), ref.dq, tol, "dq"));
  EXPECT_TRUE(close(in.k.grad().to_vector<double>(), ref.dk, tol, "dk"));
  EXPECT_TRUE(close(in.v.grad().to_vector<double>(), ref.dv, tol, "dv"));
  if (c.sink) {
    EXPECT_TRUE(close(in.sink.grad().to_vector<double>(), ref.dsink, tol, "dsink"));
  }
}

TEST(CoreAttention, RandomizedTableMatchesReference) {
  std::vector<AttentionCase> table = test::random_case_table();
  ASSERT_GE(table.size(), 40u);
  for (size_t i = 0; i < table.size(); ++i) check_case(table[i], 100 + i);
}

TEST(CoreAttention, StatsWithRowWeightsMatchReference) {
  AttentionCase c;
  c.q_lens = c.k_lens = {5, 9};
  c.heads = 2;
  c.options.stats.key_mass = true;
  std::vector<double> w(14 * 2);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.1 * double(i % 7);
  c.options.stats.key_mass_row_weights = Tensor::from_vector<double>({14, 2}, w);
  test::AttentionInputs in = test::make_inputs(c, 5);
  CoreAttentionResult res = core_attention(in.q, in.k, in.v, in.cu_q, in.cu_k, in.sink, c.options);
  clear_tape();
  ReferenceAttention ref =
      reference_attention(in.q, in.k, in.v, in.cu_q, in.cu_k, in.sink, c.options);
  EXPECT_TRUE(close(res.stats.key_mass.to_vector<double>(), ref.key_mass, 1e-12, "key_mass"));
}

TEST(CoreAttention, CausalSingleTokenAndFirstTokenMass) {
  // One query on one key: P = 1, entropy 0, first-token mass 1, output = v.
  AttentionCase c;
  c.q_lens = c.k_lens = {1};
  c.heads = c.kv_heads = 1;
  c.options.stats.entropy = c.options.stats.first_token_mass = true;
  test::AttentionInputs in = test::make_inputs(c, 6);
  CoreAttentionResult res = core_attention(in.q, in.k, in.v, in.cu_q, in.cu_k, in.sink, c.options);
  clear_tape();
  EXPECT_EQ(res.out.to_vector<double>(), in.v.to_vector<double>());
  EXPECT_NEAR(res.stats.entropy.item(), 0.0, 1e-15);
  EXPECT_EQ(res.stats.entropy_normalized.item(), 0.0);
  EXPECT_NEAR(res.stats.first_token_mass.item(), 1.0, 1e-15);
}

}  // namespace
}  // namespace attn
