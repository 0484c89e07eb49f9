// The CAD executor under mpirun (2, 3 and 4 ranks, and alone): every rank builds the same global
// batch of long-tailed documents, runs its share through CAD, and checks against core attention
// of the whole batch in one process: O, lse and dQ bit for bit, dK/dV to rounding; the bytes it
// moved against the plan's own accounting, what stateful servers keep, both backward modes
// alike, and plans that disagree ending every rank with a named error.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "parallel/cad/cad_executor.h"
#include "tests/parallel/comm/comm_test_util.h"
#include "tests/support/random.h"

namespace attn::cad {
namespace {

using test::world;

constexpr int64_t kTokens = 1024;  // per rank
constexpr int64_t kHeads = 4, kKvHeads = 2, kDim = 16;

// Rank 0 holds one long document, the others many short ones: packing leaves rank 0 with most
// of the attention work.
std::vector<std::vector<int32_t>> rank_documents(int world_size) {
  std::vector<std::vector<int32_t>> docs(world_size);
  for (int r = 0; r < world_size; ++r) {
    if (r == 0) {
      docs[r] = {kTokens};
      continue;
    }
    int64_t left = kTokens;
    for (int i = 0; left > 0; ++i) {
      const int64_t l = std::min<int64_t>(left, 40 + (37 * (i + r)) % 90);
      docs[r].push_back(static_cast<int32_t>(l));
      left -= l;
    }
  }
  return docs;
}

Tensor cu_of(const std::vector<int32_t>& lengths) {
  std::vector<int32_t> cu{0};
  for (int32_t l : lengths) cu.push_back(cu.back() + l);
  return Tensor::from_vector<int32_t>({static_cast<int64_t>(cu.size())}, cu);
}

struct Case {
  Tensor q, k, v, dout;  // global [world * kTokens, ...]
  Tensor cu;             // global documents
  std::vector<std::vector<int32_t>> docs;
};

Case global_case(DType dt) {
  const int n = world().world_size();
  Case c;
  c.docs = rank_documents(n);
  std::vector<int32_t> all;
  for (const auto& d : c.docs) all.insert(all.end(), d.begin(), d.end());
  c.cu = cu_of(all);
  const int64_t t = n * kTokens;
  c.q = test::random_normal({t, kHeads, kDim}, 1, dt, 1.0, false);
  c.k = test::random_normal({t, kKvHeads, kDim}, 2, dt, 1.0, false);
  c.v = test::random_normal({t, kKvHeads, kDim}, 3, dt, 1.0, false);
  c.dout = test::random_normal({t, kHeads, kDim}, 4, dt, 1.0, false);
  return c;
}

// This rank's rows of a global tensor, as a new leaf.
Tensor mine(const Tensor& global, bool grad = true) {
  const int64_t r = world().rank();
  Tensor t = global.slice0(r * kTokens, (r + 1) * kTokens).clone();
  return t.set_requires_grad(grad);
}

struct Grads {
  Tensor out, lse, dq, dk, dv;
};

Grads reference(const Case& c) {
  Tensor q = c.q.clone().set_requires_grad(true), k = c.k.clone().set_requires_grad(true),
         v = c.v.clone().set_requires_grad(true);
  CoreAttentionResult res = core_attention(q, k, v, c.cu, c.cu, Tensor(), {});
  backward(sum(mul(res.out, c.dout)));
  return {res.out, res.lse, q.grad(), k.grad(), v.grad()};
}

Grads distributed(const Case& c, CadExecutor& ex) {
  Tensor q = mine(c.q), k = mine(c.k), v = mine(c.v);
  const Tensor cu = cu_of(c.docs[world().rank()]);
  CoreAttentionResult res = ex.run(0, q, k, v, cu, cu, Tensor(), {});
  backward(sum(mul(res.out, mine(c.dout, false))));
  return {res.out, res.lse, q.grad(), k.grad(), v.grad()};
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

double max_relative(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double scale = 0, diff = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    scale = std::max(scale, std::abs(y[i]));
    diff = std::max(diff, std::abs(x[i] - y[i]));
  }
  return diff / std::max(scale, 1e-30);
}

class CadExecutorTest : public ::testing::TestWithParam<DType> {};

TEST_P(CadExecutorTest, MatchesOneProcessRowForRow) {
  const DType dt = GetParam();
  const Case c = global_case(dt);
  const Grads ref = reference(c);
  for (const bool resend : {false, true}) {
    CadOptions o;
    o.resend = resend;
    CadExecutor ex(world(), o);
    const Grads got = distributed(c, ex);
    EXPECT_EQ(ex.counters().distributed_calls, 1);
    EXPECT_TRUE(same_bits(got.out, mine(ref.out, false))) << "resend " << resend;
    EXPECT_TRUE(same_bits(got.lse, mine(ref.lse, false))) << "resend " << resend;
    EXPECT_TRUE(same_bits(got.dq, mine(ref.dq, false))) << "resend " << resend;
    const double tol = dt == DType::kF64 ? 1e-12 : 1e-6;
    EXPECT_LT(max_relative(got.dk, mine(ref.dk, false)), tol) << "resend " << resend;
    EXPECT_LT(max_relative(got.dv, mine(ref.dv, false)), tol) << "resend " << resend;
    EXPECT_EQ(ex.counters().retained_bytes, 0);
    if (world().world_size() > 1) {
      EXPECT_GT(ex.last_plan().moves, 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CadExecutorTest, ::testing::Values(DType::kF32, DType::kF64));

TEST(CadExecutor, BothBackwardModesGiveTheSameBits) {
  const Case c = global_case(DType::kF32);
  CadOptions stateful, resend;
  resend.resend = true;
  CadExecutor a(world(), stateful), b(world(), resend);
  const Grads x = distributed(c, a), y = distributed(c, b);
  EXPECT_TRUE(same_bits(x.dq, y.dq));
  EXPECT_TRUE(same_bits(x.dk, y.dk));
  EXPECT_TRUE(same_bits(x.dv, y.dv));
}

TEST(CadExecutor, MovesThePlansBytesAndKeepsTheTasksTensors) {
  const Case c = global_case(DType::kF32);
  for (const bool resend : {false, true}) {
    CadOptions o;
    o.resend = resend;
    CadExecutor ex(world(), o);
    Tensor q = mine(c.q), k = mine(c.k), v = mine(c.v);
    const Tensor cu = cu_of(c.docs[world().rank()]);
    CoreAttentionResult res = ex.run(0, q, k, v, cu, cu, Tensor(), {});
    const Plan& plan = ex.last_plan();
    std::vector<int64_t> lengths;
    for (const auto& d : c.docs) lengths.insert(lengths.end(), d.begin(), d.end());
    const WorkerLayout layout(lengths, world().world_size());
    const int64_t e = 4;  // f32
    const Traffic t = plan_traffic(
        layout, plan.tasks, {kHeads * kDim * e, kKvHeads * 2 * kDim * e, kHeads * (kDim + 1) * e});
    const int me = world().rank();
    EXPECT_EQ(ex.counters().sent_bytes, t.send[me]);
    EXPECT_EQ(ex.counters().received_bytes, t.recv[me]);
    EXPECT_EQ(ex.counters().exchanges, 2);
    int64_t kept = 0;
    for (const Task& task : plan.tasks)
      if (task.server == me)
        kept +=
            task.rows() * (kHeads * kDim * 2 + kHeads) * e + task.q_end * kKvHeads * 2 * kDim * e;
    EXPECT_EQ(ex.counters().retained_bytes, resend ? 0 : kept);
    backward(sum(res.out));
    EXPECT_EQ(ex.counters().retained_bytes, 0);
    EXPECT_EQ(ex.counters().exchanges, 4);
  }
}

TEST(CadExecutor, ReusesThePlanOfTheSameBatchAndRunsEvaluationLocally) {
  const Case c = global_case(DType::kF32);
  CadExecutor ex(world(), {});
  distributed(c, ex);
  distributed(c, ex);
  EXPECT_EQ(ex.counters().plans, 1);
  const Tensor want = mine(reference(c).out, false);
  {
    NoGrad no_grad;
    const Tensor cu = cu_of(c.docs[world().rank()]);
    CoreAttentionResult res =
        ex.run(0, mine(c.q, false), mine(c.k, false), mine(c.v, false), cu, cu, Tensor(), {});
    EXPECT_EQ(ex.counters().local_calls, 1);
    EXPECT_TRUE(same_bits(res.out, want));
  }
}

TEST(CadExecutor, PlansThatDisagreeEndEveryRankWithANamedError) {
  if (world().world_size() < 2) GTEST_SKIP() << "needs two ranks";
  const Case c = global_case(DType::kF32);
  CadOptions o;
  // Rank 1 plans with another tolerance: a valid plan, but not everyone's.
  o.planner_fn = [](const WorkerLayout& layout, const PlannerOptions& po) {
    PlannerOptions mine = po;
    if (world().rank() == 1) mine.eps = 0.9;
    return plan_attention(layout, mine);
  };
  CadExecutor ex(world(), o);
  try {
    distributed(c, ex);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CAD plans disagree: rank 1"), std::string::npos)
        << e.what();
  }
  clear_tape();
  // A plan that fails its checks on one rank: every rank names that rank.
  o.planner_fn = [](const WorkerLayout& layout, const PlannerOptions& po) {
    Plan p = plan_attention(layout, po);
    if (world().rank() == 1) p.tasks.pop_back();
    return p;
  };
  CadExecutor bad(world(), o);
  try {
    distributed(c, bad);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CAD plan of rank 1 is invalid"), std::string::npos)
        << e.what();
  }
  clear_tape();
}

}  // namespace
}  // namespace attn::cad
