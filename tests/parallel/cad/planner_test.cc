// The CAD planner (parallel/cad/planner.h): a hand-computed case, the edge cases, and properties
// over 10^4 seeded batches with 1-512 servers: every query row in exactly one task on a valid
// home, pair sums conserved, both bounds whenever no indivisible unit stands in the way (else a
// reason), byte-identical plans for the same input, traffic as the plan implies.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "framework/core/error.h"
#include "parallel/cad/plan.h"
#include "parallel/cad/planner.h"

namespace attn::cad {
namespace {

int64_t total_pairs(const WorkerLayout& l) {
  int64_t s = 0;
  for (int d = 0; d < l.docs(); ++d) s += causal_pairs(0, l.length(d));
  return s;
}

TEST(CadPlan, CausalPairsAndTheMirroredUnit) {
  EXPECT_EQ(causal_pairs(0, 1), 1);
  EXPECT_EQ(causal_pairs(0, 4), 10);
  EXPECT_EQ(causal_pairs(2, 4), 7);
  // Rows i and L-1-i together cost L+1, for any slice [b, e): b + e + 1.
  for (int64_t i = 0; i < 5; ++i)
    EXPECT_EQ(causal_pairs(i, i + 1) + causal_pairs(9 - i, 10 - i), 11);
  EXPECT_EQ(causal_pairs(0, int64_t{1} << 31), (int64_t{1} << 30) * ((int64_t{1} << 31) + 1));
}

TEST(CadPlan, WorkerLayoutCutsDocumentsAtRankBoundaries) {
  const WorkerLayout l({5, 2, 9}, 4);  // 16 tokens, 4 per rank
  EXPECT_EQ(l.tokens_per_rank(), 4);
  EXPECT_EQ(l.home_ranks(0), (std::pair<int, int>{0, 1}));
  EXPECT_EQ(l.home_range(0, 0), (std::pair<int64_t, int64_t>{0, 4}));
  EXPECT_EQ(l.home_range(0, 1), (std::pair<int64_t, int64_t>{4, 5}));
  EXPECT_EQ(l.home_range(1, 1), (std::pair<int64_t, int64_t>{0, 2}));
  EXPECT_EQ(l.home_ranks(2), (std::pair<int, int>{1, 3}));
  EXPECT_EQ(l.home_range(2, 1), (std::pair<int64_t, int64_t>{0, 1}));
  EXPECT_EQ(l.home_range(2, 3), (std::pair<int64_t, int64_t>{5, 9}));
  EXPECT_EQ(l.home_range(1, 3), (std::pair<int64_t, int64_t>{0, 0}));
  EXPECT_THROW(WorkerLayout({3, 0}, 2), Error);
  EXPECT_THROW(WorkerLayout({3}, 0), Error);
}

// Rank 0 holds one 1000-row document (500500 pairs), rank 1 ten of 100 (50500): the mean is
// 275500 and rank 1 lacks 225000. The middle band [276, 724) (224 mirrored units of 1001) moves
// it with the fewest bytes per pair: 2344 bytes (Q and O of 448 rows, K/V of the 724-row
// prefix) for 224224 pairs, against a suffix of 258 rows (2516 bytes for 224847) and a prefix
// of 670 (2680 for 224785).
TEST(CadPlanner, HandComputedMiddleBand) {
  std::vector<int64_t> lengths{1000};
  for (int i = 0; i < 10; ++i) lengths.push_back(100);
  const WorkerLayout l(lengths, 2);
  const Plan p = plan_attention(l);
  check_plan(l, p);
  EXPECT_TRUE(p.balanced) << p.unbalanced_why;
  EXPECT_EQ(p.moves, 1);
  EXPECT_EQ(p.load, (std::vector<int64_t>{500500 - 224224, 50500 + 224224}));
  ASSERT_EQ(p.tasks.size(), 13u);
  EXPECT_EQ(p.tasks[0], (Task{0, 0, 276, 0, 0}));
  EXPECT_EQ(p.tasks[1], (Task{0, 724, 1000, 0, 0}));
  EXPECT_EQ(p.tasks[2], (Task{0, 276, 724, 1, 0}));
  EXPECT_EQ(p.traffic.send, (std::vector<int64_t>{448 + 2 * 724, 448}));
  EXPECT_EQ(p.traffic.recv, (std::vector<int64_t>{448, 448 + 2 * 724}));
  // DistCA's shapes alone find the same band here.
  PlannerOptions band_only;
  band_only.prefix_suffix = false;
  EXPECT_EQ(plan_attention(l, band_only).tasks, p.tasks);
}

TEST(CadPlanner, EdgeCases) {
  // One server: nothing moves.
  {
    const WorkerLayout l({300, 7, 1}, 1);
    const Plan p = plan_attention(l);
    check_plan(l, p);
    EXPECT_TRUE(p.balanced);
    EXPECT_EQ(p.moves, 0);
    EXPECT_EQ(p.tasks.size(), 3u);
  }
  // Length-1 documents over more servers than documents (3 tokens on 8 ranks: 1 per rank).
  {
    const WorkerLayout l({1, 1, 1}, 8);
    const Plan p = plan_attention(l);
    check_plan(l, p);
    EXPECT_FALSE(p.balanced);  // five servers stay empty: no unit is small enough
    EXPECT_NE(p.unbalanced_why.find("no move fits"), std::string::npos) << p.unbalanced_why;
  }
  // One giant document over 8 ranks: cut into home pieces, rebalanced in bands.
  {
    const WorkerLayout l({1 << 16}, 8);
    const Plan p = plan_attention(l);
    check_plan(l, p);
    EXPECT_TRUE(p.balanced) << p.unbalanced_why;
    EXPECT_LE(p.imbalance(), 1.1);
  }
  // Every other document under the minimum slice: their tasks move whole (as the layout cut
  // them at rank boundaries), never cut again.
  {
    std::vector<int64_t> lengths(40, 100);
    lengths[0] = 2000;  // rank 0 busy, but its document is the only cuttable one
    const WorkerLayout l(lengths, 4);
    const Plan p = plan_attention(l);
    check_plan(l, p);
    for (const Task& t : p.tasks) {
      if (t.doc > 0) {
        EXPECT_EQ(l.home_range(t.doc, t.home), (std::pair{t.q_begin, t.q_end})) << t.doc;
      }
    }
  }
  PlannerOptions bad;
  bad.eps = 0;
  EXPECT_THROW(plan_attention(WorkerLayout({5}, 2), bad), Error);
}

// The buffer budget re-plans up the tolerance ladder: a looser plan moves fewer bytes.
TEST(CadPlanner, BufferBudgetClimbsTheToleranceLadder) {
  std::vector<int64_t> lengths{4096};
  for (int i = 0; i < 60; ++i) lengths.push_back(200);
  const WorkerLayout l(lengths, 4);
  PlannerOptions tight;
  tight.eps = 0.05;
  const Plan strict = plan_attention(l, tight);
  ASSERT_GT(strict.traffic.max_per_rank(), 0);
  tight.buffer_bytes = strict.traffic.max_per_rank() - 1;
  const Plan loose = plan_attention(l, tight);
  EXPECT_GT(loose.eps, 0.05);
  EXPECT_LE(loose.traffic.max_per_rank(), tight.buffer_bytes);
  check_plan(l, loose);
}

// Seeded batches: long-tailed lengths (mostly short, some up to 64K), 1-512 servers.
struct Batch {
  std::vector<int64_t> lengths;
  int servers;
};

Batch random_batch(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Batch b;
  // 512 servers in 1 batch of 50: the widest plans cost the most time.
  const int sizes[] = {1, 2, 3, 4, 7, 8, 16, 32, 64, 128};
  b.servers = rng() % 50 == 0 ? 512 : sizes[rng() % 10];
  const int docs = 1 + static_cast<int>(rng() % 48);
  for (int d = 0; d < docs; ++d) {
    const uint64_t kind = rng() % 20;
    const int64_t len = kind == 0  ? 1 + static_cast<int64_t>(rng() % 65536)  // a long one
                        : kind < 4 ? 1 + static_cast<int64_t>(rng() % 127)    // under the minimum
                                   : 1 + static_cast<int64_t>(rng() % 4096);
    b.lengths.push_back(len);
  }
  return b;
}

TEST(CadPlannerProperties, TenThousandSeededBatches) {
  int balanced = 0, infeasible = 0;
  for (uint64_t seed = 1; seed <= 10000; ++seed) {
    const Batch b = random_batch(seed);
    const WorkerLayout l(b.lengths, b.servers);
    PlannerOptions o;
    o.prefix_suffix = seed % 2 == 0;
    const Plan p = plan_attention(l, o);
    SCOPED_TRACE(fmt::format("seed {} ({} documents on {} servers)", seed, l.docs(), b.servers));
    ASSERT_NO_THROW(check_plan(l, p));
    int64_t sum = 0;
    for (int64_t x : p.load) sum += x;
    ASSERT_EQ(sum, total_pairs(l));
    for (const Task& t : p.tasks) ASSERT_EQ(t.kv_end(), t.q_end);
    // The largest indivisible piece of work: min_slice rows at the end of the longest document
    // (no cut leaves less), or a whole document shorter than twice the minimum.
    int64_t unit = 0;
    for (int d = 0; d < l.docs(); ++d) {
      const int64_t n = l.length(d);
      unit = std::max(unit, causal_pairs(std::max<int64_t>(0, n - 2 * o.min_slice), n));
    }
    const double mean = static_cast<double>(sum) / b.servers;
    if (p.balanced) {
      ++balanced;
      ASSERT_LE(static_cast<double>(*std::max_element(p.load.begin(), p.load.end())),
                (1 + o.eps) * mean + 1);
    } else {
      ++infeasible;
      ASSERT_FALSE(p.unbalanced_why.empty());
      ASSERT_GT(static_cast<double>(unit), 0.25 * o.eps * mean)
          << "unbalanced although every unit is small: " << p.unbalanced_why;
    }
    if (seed % 10 == 0) {  // same input, same plan (and traffic as the tasks imply)
      const Plan again = plan_attention(WorkerLayout(b.lengths, b.servers), o);
      ASSERT_EQ(again.tasks, p.tasks);
      ASSERT_EQ(again.hash(), p.hash());
      const Traffic t = plan_traffic(l, p.tasks, o.bytes);
      ASSERT_EQ(t.send, p.traffic.send);
      ASSERT_EQ(t.recv, p.traffic.recv);
    }
  }
  EXPECT_GT(balanced, 1000);
  EXPECT_GT(infeasible, 0);  // the tiny batches on 512 servers
}

TEST(CadPlannerProperties, AlignedCutsFallOnTileBoundaries) {
  int cut = 0;
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    const Batch b = random_batch(seed);
    const WorkerLayout l(b.lengths, b.servers);
    PlannerOptions o;
    o.align = 64;
    const Plan p = plan_attention(l, o);
    SCOPED_TRACE(fmt::format("seed {} ({} documents on {} servers)", seed, l.docs(), b.servers));
    ASSERT_NO_THROW(check_plan(l, p));
    for (const Task& t : p.tasks) {
      // A slice starts at a multiple of 64 or where its rows' home range starts.
      const auto [hb, he] = l.home_range(t.doc, t.home);
      ASSERT_TRUE(t.q_begin % 64 == 0 || t.q_begin == hb) << t.doc << " " << t.q_begin;
      ASSERT_TRUE(t.q_end % 64 == 0 || t.q_end == he) << t.doc << " " << t.q_end;
      cut += t.q_begin != hb;
    }
  }
  EXPECT_GT(cut, 100);
}

TEST(CadPlan, CheckRejectsBrokenPlans) {
  const WorkerLayout l({300, 200}, 2);
  const Plan good = plan_attention(l);
  check_plan(l, good);
  auto broken = [&](auto edit) {
    Plan p = good;
    edit(p);
    return p;
  };
  const std::vector<Plan> bad{
      broken([](Plan& p) { p.tasks.pop_back(); }),                 // rows in no task
      broken([](Plan& p) { p.tasks.push_back(p.tasks.back()); }),  // rows twice / order
      broken([](Plan& p) { p.tasks[0].server = 5; }),
      broken([](Plan& p) { p.tasks[0].q_end = 10000; }),
      broken([](Plan& p) { p.tasks[0].home = 1; }),  // rows not on that rank
      broken([](Plan& p) { p.servers = 3; }),
  };
  for (size_t i = 0; i < bad.size(); ++i) EXPECT_THROW(check_plan(l, bad[i]), Error) << i;
  EXPECT_NE(broken([](Plan& p) { p.tasks[0].q_end -= 1; }).hash(), good.hash());
}

}  // namespace
}  // namespace attn::cad
