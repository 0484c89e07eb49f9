// The CAD simulator against hand-computed small cases: the cost model's tile counting, the
// ping-pong timeline, each baseline scheme, CAD's exchange matrices (they must add up to the
// planner's own traffic accounting), the document-length sampler and the projection report.
#include <gtest/gtest.h>

#include <numeric>

#include "framework/core/error.h"
#include "parallel/cad/sim/costs.h"
#include "parallel/cad/sim/doc_lengths.h"
#include "parallel/cad/sim/network.h"
#include "parallel/cad/sim/projection.h"
#include "parallel/cad/sim/schemes.h"
#include "parallel/cad/sim/timeline.h"

namespace attn::cad::sim {
namespace {

// Width 1, one head, an MLP of 2 x 1: per token pre = 6 and post = 2 + 12 = 14 forward FLOPs
// (backward twice), attention 4 FLOPs per causal pair forward (backward 2.5x); a machine doing
// 1 FLOP/s in tiles of one row, so times are FLOP counts.
ModelShape toy_model(int layers = 1) {
  return {"toy", layers, 1, 1, 1, 2, 1, 3};
}
Hardware toy_hardware() {
  Hardware h;
  h.name = "toy";
  h.peak_flops = 1;
  h.matmul_efficiency = h.attention_efficiency = 1;
  h.tile = 1;
  h.gpus_per_node = 1;
  h.intra_alpha_s = h.inter_alpha_s = 1;
  h.intra_bytes_per_s = h.inter_bytes_per_s = 2;
  return h;
}

TEST(CadSimCosts, TilesOfOneRowCountCausalPairsAndWholeTilesMakeTheSmallSliceCliff) {
  const Costs c(toy_model(), toy_hardware(), 1);
  EXPECT_DOUBLE_EQ(c.task_s(0, 4, Pass::kForward), 4.0 * 10);
  EXPECT_DOUBLE_EQ(c.task_s(4, 6, Pass::kForward), 4.0 * (5 + 6));
  EXPECT_DOUBLE_EQ(c.task_s(4, 6, Pass::kBackward), 2.5 * 4.0 * (5 + 6));
  EXPECT_DOUBLE_EQ(c.pre_s(3, Pass::kForward), 18);
  EXPECT_DOUBLE_EQ(c.post_s(3, Pass::kBackward), 84);
  Hardware tiled = toy_hardware();
  tiled.tile = 4;
  const Costs t(toy_model(), tiled, 1);
  // One row of a 5-key prefix: one query tile over two key tiles, 2 x 16 pairs.
  EXPECT_DOUBLE_EQ(t.task_s(4, 5, Pass::kForward), 4.0 * 2 * 16);
  // Eight rows [0, 8): query tiles see 1 and 2 key tiles.
  EXPECT_DOUBLE_EQ(t.task_s(0, 8, Pass::kForward), 4.0 * 3 * 16);
  tiled.attention_floor_s = 1000;
  EXPECT_DOUBLE_EQ(Costs(toy_model(), tiled, 1).server_s({{0, 0, 8, 0, 0}}, Pass::kForward), 1000);
  EXPECT_DOUBLE_EQ(Costs(toy_model(), tiled, 1).server_s({}, Pass::kForward), 0);
}

TEST(CadSimCosts, RefusesShapesTensorParallelismCannotSplit) {
  EXPECT_THROW(Costs(find_model_preset("llama-8b").value(), h200(), 3), Error);
  EXPECT_NO_THROW(Costs(find_model_preset("llama-34b").value(), h200(), 8));
  EXPECT_NEAR(find_model_preset("llama-8b")->params() / 1e9, 8.0, 0.1);
}

TEST(CadSimTimeline, FiveTicksPerLayerByHand) {
  const LayerStages a{1, 2, 3, 4, 5}, b{1, 1, 1, 1, 1};
  EXPECT_DOUBLE_EQ(sequential_pass_s(a, 2), 30);
  // 1 + [2 + 3 + 4 + max(1, 5 + 1)] + [max(2, 1 + 1) + 3 + 4 + 5] + 1
  EXPECT_DOUBLE_EQ(ping_pong_pass_s(a, b, 2), 31);
  // With free communication ping-pong is the compute alone, in order.
  const LayerStages c{1, 0, 3, 0, 5};
  EXPECT_DOUBLE_EQ(ping_pong_pass_s(c, c, 1), 1 + 1 + 3 + 3 + 5 + 5);
}

TEST(CadSimNetwork, AlphaBetaPerLinkAndTheSlowestRank) {
  Hardware h = toy_hardware();
  h.gpus_per_node = 2;
  h.intra_alpha_s = 1, h.intra_bytes_per_s = 10;
  h.inter_alpha_s = 2, h.inter_bytes_per_s = 1;
  const Network net(h, 1, 4);  // nodes {0, 1} and {2, 3}
  ByteMatrix m(4, std::vector<int64_t>(4, 0));
  m[0][1] = 100;  // intra: 1 + 10
  m[0][2] = 5;    // inter: 2 + 5
  EXPECT_DOUBLE_EQ(net.all_to_all_s(m), 11);
  m[3][2] = 10000;  // intra on rank 3: 1 + 1000
  EXPECT_DOUBLE_EQ(net.all_to_all_s(m), 1001);
  EXPECT_DOUBLE_EQ(net.ring_all_gather_s(0, 2, 10), 1 * (1 + 1.0));
  EXPECT_DOUBLE_EQ(net.ring_all_gather_s(0, 4, 10), 3 * (2 + 10.0));
  EXPECT_DOUBLE_EQ(net.ring_all_gather_s(0, 1, 10), 0);
}

TEST(CadSimSchemes, PackingByHand) {
  const Costs c(toy_model(), toy_hardware(), 1);
  const Network net(toy_hardware(), 1, 2);
  // Rank 0 holds rows [0, 4) of document 0 (10 pairs); rank 1 rows [4, 6) (11 pairs) and all of
  // document 1 (3 pairs). Linear: 3 x (6 + 14) = 60 FLOPs per token over both passes; attention
  // 3.5 x 4 = 14 per pair.
  const SchemeResult r = simulate_packing(c, net, {2, 4, {}}, {{6, 2}});
  EXPECT_DOUBLE_EQ(r.step_s, 4 * 60 + 14 * 14);
  EXPECT_DOUBLE_EQ(r.compute_only_s, r.step_s);
  EXPECT_DOUBLE_EQ(r.attention_max_s, 14 * 14);
  EXPECT_DOUBLE_EQ(r.attention_mean_s, 14 * 12);
  EXPECT_DOUBLE_EQ(r.busy_mean_s, 4 * 60 + 14 * 12);
  EXPECT_EQ(r.tokens, 8);
  EXPECT_DOUBLE_EQ(r.exposed_comm_s(), 0);
  EXPECT_THROW(simulate_packing(c, net, {2, 4, {}}, {{6, 1}}), Error);
}

TEST(CadSimSchemes, WlbLongestFirstToTheLeastWorkUnderTheCap) {
  // 5 -> bucket 0; 3 -> 1; 3 -> 1 (less work than the 5); 1 -> 0.
  EXPECT_EQ(wlb_buckets({1, 5, 3, 3}, 2, 8), (std::vector<int>{0, 0, 1, 1}));
  // Three buckets: the 1 joins the lower-numbered of the two equally loaded 3s.
  EXPECT_EQ(wlb_buckets({1, 5, 3, 3}, 3, 8), (std::vector<int>{1, 0, 1, 2}));
  // Nothing fits under a cap of 5 for the second 3: the bucket with the fewest tokens takes it.
  EXPECT_EQ(wlb_buckets({5, 3, 3}, 2, 5), (std::vector<int>{0, 1, 1}));
  const Costs c(toy_model(), toy_hardware(), 1);
  const Network net(toy_hardware(), 1, 2);
  // Buckets {5, 1} and {3, 3}: 6 tokens each; pairs 15 + 1 = 16 and 6 + 6 = 12.
  const SchemeResult r = simulate_wlb(c, net, {2, 6, {}}, {{1, 5, 3, 3}});
  EXPECT_DOUBLE_EQ(r.step_s, 6 * 60 + 14 * 16);
  EXPECT_DOUBLE_EQ(r.attention_max_s / r.attention_mean_s, 16.0 / 14);
}

TEST(CadSimSchemes, ContextParallelChunksMirrorAndPayTheGather) {
  const Costs c(toy_model(), toy_hardware(), 1);
  const Network net(toy_hardware(), 1, 2);
  // One document of 8 in a group of 2: chunks [0,2) [2,4) [4,6) [6,8); rank 0 takes chunks 0 and
  // 3 (1 + 2 + 7 + 8 = 18 pairs), rank 1 chunks 1 and 2 (3 + 4 + 5 + 6 = 18).
  const SchemeResult r = simulate_context_parallel(c, net, {2, 4, {}}, {{8}}, 2);
  EXPECT_EQ(r.cp, 2);
  EXPECT_DOUBLE_EQ(r.attention_max_s, 14 * 18);
  EXPECT_DOUBLE_EQ(r.attention_mean_s, 14 * 18);
  EXPECT_DOUBLE_EQ(r.compute_only_s, 4 * 60 + 14 * 18);
  // K/V of 4 tokens x 4 bytes gathered (forward) and reduce-scattered (backward): 1 + 16 / 2.
  EXPECT_DOUBLE_EQ(r.exposed_comm_s(), 2 * 9);
  // Degree 1 is packing.
  const SchemeResult one = simulate_context_parallel(c, net, {2, 4, {}}, {{6, 2}}, 1);
  EXPECT_DOUBLE_EQ(one.step_s, simulate_packing(c, net, {2, 4, {}}, {{6, 2}}).step_s);
  EXPECT_THROW(simulate_context_parallel(c, net, {2, 4, {}}, {{8}}, 3), Error);
}

TEST(CadSimSchemes, CadWithNothingToMoveIsPackingWithBarriers) {
  const Costs c(toy_model(2), toy_hardware(), 1);
  const Network net(toy_hardware(), 1, 2);
  const SimSetup s{2, 4, {}};
  const SchemeResult cad = simulate_cad(c, net, s, {{4, 4}}, false);
  const SchemeResult pack = simulate_packing(c, net, s, {{4, 4}});
  EXPECT_DOUBLE_EQ(cad.step_s, pack.step_s);
  EXPECT_DOUBLE_EQ(cad.exposed_comm_s(), 0);
  EXPECT_DOUBLE_EQ(cad.attention_imbalance(), 1);
}

TEST(CadSimSchemes, CadBalancesASkewedBatchAndPingPongHidesPartOfItsTraffic) {
  Hardware h = h200();
  const Costs c(find_model_preset("llama-8b").value(), h, 8);
  const int ranks = 8;
  const int64_t budget = 65536;
  LengthDistribution d;
  d.max_length = budget;
  LengthSampler sampler(d, 3);
  const Batch batch{sample_batch(sampler, ranks * budget)};
  const Network net(h, 8, ranks);
  const SimSetup s{ranks, budget, {}};
  const SchemeResult pack = simulate_packing(c, net, s, batch);
  const SchemeResult cad = simulate_cad(c, net, s, batch, false);
  const SchemeResult pp = simulate_cad(c, net, s, batch, true);
  EXPECT_GT(pack.attention_imbalance(), 1.3);
  EXPECT_LT(cad.attention_imbalance(), 1.12);
  EXPECT_LT(cad.compute_only_s, pack.step_s);
  EXPECT_GT(cad.exposed_comm_s(), 0);
  EXPECT_LT(pp.exposed_comm_s(), cad.exposed_comm_s());
}

TEST(CadSimSchemes, ExchangeMatricesAddUpToThePlannersTraffic) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    LengthDistribution d;
    d.max_length = 4096;
    d.short_median = 300;
    LengthSampler sampler(d, seed);
    const int ranks = 1 + static_cast<int>(seed % 7);
    const WorkerLayout layout(sample_batch(sampler, ranks * 2048), ranks);
    const ByteCosts bytes{3, 5, 7};
    PlannerOptions o;
    o.bytes = bytes;
    const Plan plan = plan_attention(layout, o);
    const PlanExchange x = plan_exchange(layout, plan.tasks, bytes);
    const Traffic t = plan_traffic(layout, plan.tasks, bytes);
    for (int r = 0; r < ranks; ++r) {
      int64_t send = 0, recv = 0;
      for (int o = 0; o < ranks; ++o) {
        send += x.q_kv[r][o] + x.o[r][o];
        recv += x.q_kv[o][r] + x.o[o][r];
      }
      EXPECT_EQ(send, t.send[r]) << "seed " << seed << " rank " << r;
      EXPECT_EQ(recv, t.recv[r]) << "seed " << seed << " rank " << r;
    }
  }
}

TEST(CadSimLengths, SeededBoundedAndExact) {
  LengthDistribution d;
  d.max_length = 1000;
  LengthSampler a(d, 7), b(d, 7), c(d, 8);
  const std::vector<int64_t> x = sample_batch(a, 100000), y = sample_batch(b, 100000);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, sample_batch(c, 100000));
  EXPECT_EQ(std::accumulate(x.begin(), x.end(), int64_t{0}), 100000);
  for (int64_t l : x) {
    EXPECT_GE(l, 1);
    EXPECT_LE(l, 1000);
  }
  d.empirical = {10, 20};
  d.long_share = 0;
  LengthSampler e(d, 1);
  for (int i = 0; i < 100; ++i) {
    const int64_t l = e.next();
    EXPECT_TRUE(l == 10 || l == 20) << l;
  }
  d.long_share = 2;
  EXPECT_THROW(LengthSampler(d, 1), Error);
}

TEST(CadSimProjection, ParsesTokenCounts) {
  EXPECT_EQ(parse_tokens("128K"), 131072);
  EXPECT_EQ(parse_tokens("1M"), 1048576);
  EXPECT_EQ(parse_tokens("4096"), 4096);
  EXPECT_EQ(format_tokens(524288), "512K");
  for (const char* bad : {"", "K", "12x", "-5", "1", "99999999999999K"})
    EXPECT_THROW(parse_tokens(bad), Error) << bad;
}

TEST(CadSimProjection, EverySchemeAtEveryPointLabelledAProjection) {
  ProjectionConfig c;
  c.model = find_model_preset("llama-8b").value();
  c.hardware = h200();
  c.gpus = {16, 32};
  c.contexts = {16384};
  c.steps = 1;
  const std::vector<ProjectionRow> rows = run_projection(c);
  ASSERT_EQ(rows.size(), 2u * c.schemes.size());
  for (const ProjectionRow& r : rows) {
    EXPECT_GT(r.result.tokens_per_s(), 0) << r.result.scheme;
    if (r.result.scheme == "packing") {
      EXPECT_DOUBLE_EQ(r.speedup, 1);
    }
    if (r.result.scheme == "cp") {
      EXPECT_GE(r.result.cp, 2);
    }
  }
  const std::string md = projection_markdown(c, rows);
  EXPECT_NE(md.find("projection"), std::string::npos);
  EXPECT_NE(md.find("| 32 | 16K | cad+pingpong |"), std::string::npos) << md;
  c.gpus = {12};
  EXPECT_THROW(run_projection(c), Error);
  c.gpus = {16};
  c.schemes = {"magic"};
  EXPECT_THROW(run_projection(c), Error);
}

}  // namespace
}  // namespace attn::cad::sim
