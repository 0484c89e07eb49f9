// The extreme-token diagnostics (value-state drain, residual-state peak, dormant share on a query
// domain) against their closed forms on hand-built inputs, and the value drain of a real layer.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "layers/attention/attention_diagnostics.h"
#include "tests/layers/attention/variant_test_util.h"

namespace attn {
namespace {

std::map<std::string, double> values_of(const AttentionDiagnostics& d) {
  const auto v = d.values();
  return {v.begin(), v.end()};
}

// Two documents [0 1 2] and [0 1].
Tensor five_positions() {
  return Tensor::from_vector<int32_t>({5}, {0, 1, 2, 0, 1});
}

TEST(SinkDiagnostics, ResidualPeakIsTheFirstPositionNormOverTheMeanNorm) {
  AttentionDiagnostics d;
  // Row norms 5, 1, 1, 3, 0: first positions average 4, all rows average 2.
  d.record_residual(0, five_positions(),
                    Tensor::from_vector<double>({5, 2}, {3, 4, 1, 0, 0, -1, 0, 3, 0, 0}));
  // Every row of norm 2: no peak (ratio 1).
  d.record_residual(1, five_positions(),
                    Tensor::from_vector<double>({5, 2}, {2, 0, 0, 2, -2, 0, 0, -2, 2, 0}));
  const auto m = values_of(d);
  EXPECT_DOUBLE_EQ(m.at("attn/residual_peak/l0"), 2.0);
  EXPECT_DOUBLE_EQ(m.at("attn/residual_peak/l1"), 1.0);
  EXPECT_DOUBLE_EQ(m.at("attn/residual_peak"), 2.0);  // max over layers
  EXPECT_DOUBLE_EQ(m.at("attn/max_activation/l0"), 4.0);
}

TEST(SinkDiagnostics, ValueDrainIsPerKeyValueHead) {
  AttentionDiagnostics d;
  // v [5 tokens, 2 heads, 1]: head 0 has value 0.5 at both first positions and 2 elsewhere
  // (drain 0.5 / 1.4); head 1 is constant (ratio 1).
  d.record_value_states(
      3, five_positions(),
      Tensor::from_vector<double>({5, 2, 1}, {0.5, 1, -2, 1, 2, -1, -0.5, 1, 2, 1}));
  const auto m = values_of(d);
  EXPECT_DOUBLE_EQ(m.at("attn/value_drain/l3h0"), 0.5 / 1.4);
  EXPECT_DOUBLE_EQ(m.at("attn/value_drain/l3h1"), 1.0);
  EXPECT_DOUBLE_EQ(m.at("attn/value_drain/l3"), (0.5 / 1.4 + 1.0) / 2);
  EXPECT_DOUBLE_EQ(m.at("attn/value_drain"), (0.5 / 1.4 + 1.0) / 2);
}

TEST(SinkDiagnostics, AllZeroValuesReportNoDrainRatherThanNaN) {
  AttentionDiagnostics d;
  d.record_value_states(0, five_positions(),
                        Tensor::from_vector<double>({5, 1, 1}, {0, 0, 0, 0, 0}));
  EXPECT_EQ(values_of(d).count("attn/value_drain"), 0u);
}

TEST(SinkDiagnostics, DormantShareCountsHeadsWhoseDomainRowsSink) {
  AttentionDiagnostics d(/*sink_threshold=*/0.6);
  // Rows at positions 1, 2 and 1 (position 0 rows are skipped). Domain: rows 1 and 4 only.
  d.set_query_domain(Tensor::from_vector<int32_t>({5}, {1, 1, 0, 1, 1}));
  // Head 0 sinks on the domain (0.9, 0.7) but not on row 2 (0.1); head 1 never (0.2, 0.4).
  const Tensor ftm =
      Tensor::from_vector<double>({5, 2}, {1, 1, 0.9, 0.2, 0.1, 0.9, 1, 1, 0.7, 0.4});
  const Tensor zeros = Tensor::from_vector<double>({5, 2}, std::vector<double>(10, 0.0));
  d.record_maps(0, five_positions(), ftm, zeros, zeros);
  const auto m = values_of(d);
  EXPECT_DOUBLE_EQ(m.at("attn/domain_first_token_mass/l0h0"), 0.8);
  EXPECT_DOUBLE_EQ(m.at("attn/domain_first_token_mass/l0h1"), 0.3);
  EXPECT_DOUBLE_EQ(m.at("attn/dormant_share"), 0.5);
  // Over all rows head 0 averages (0.9 + 0.1 + 0.7) / 3, below the threshold, head 1 0.5.
  EXPECT_NEAR(m.at("attn/first_token_mass/l0h0"), 1.7 / 3, 1e-15);
  EXPECT_DOUBLE_EQ(m.at("attn/sink_head_ratio"), 0.0);
}

TEST(SinkDiagnostics, NoDomainNoDormantShare) {
  AttentionDiagnostics d;
  const Tensor ftm = Tensor::from_vector<double>({5, 1}, {1, 0.9, 0.9, 1, 0.9});
  d.record_maps(0, five_positions(), ftm, ftm, ftm);
  EXPECT_EQ(values_of(d).count("attn/dormant_share"), 0u);
}

// A real softmax layer records the value drain of its own value projection: with every weight
// zero but the bias the values are equal at every position (ratio 1), for each kv head.
TEST(SinkDiagnostics, LayersReportTheirValueStates) {
  AttentionSpec spec =
      test::small_spec(test::default_attention(attnlab::config::Attention::SOFTMAX));
  spec.bias = true;
  ParamStore store(DType::kF64);
  std::unique_ptr<AttentionLayer> layer = make_attention(store, "attn", spec);
  store.finalize();
  Tensor b = store.find("attn.qkv.bias").tensor;
  b.fill_(0.25);
  AttentionDiagnostics d;
  const PackedSequences seq = test::two_documents();
  AttentionContext ctx{seq, local_core_attention()};
  ctx.diagnostics = &d;
  const int64_t n = seq.positions.numel();
  layer->forward(Tensor::zeros({n, spec.width}, DType::kF64), ctx);
  const auto m = values_of(d);
  for (int64_t h = 0; h < spec.kv_heads; ++h)
    EXPECT_NEAR(m.at(fmt::format("attn/value_drain/l{}h{}", spec.layer, h)), 1.0, 1e-12);
}

}  // namespace
}  // namespace attn
