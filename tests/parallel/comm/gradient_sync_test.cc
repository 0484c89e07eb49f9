// Each GradientSync against the others, at every world size the communicator tests run at. The
// step's gradient is the sum of G sample gradients g_j (a non-exact sin pattern, so summation
// order shows in the bits); rank r computes samples j = r + m N. Where the math fixes the order
// the bits must agree:
//   - the tree on N ranks equals the tree over all G groups on one rank (its whole point);
//   - on one or two ranks with two parts per rank, plain buckets, ZeRO-1 and the tree all add
//     the same two local values and then the same two (or one) rank values;
// elsewhere (MPI's reduction order over four ranks) they agree to rounding.
#include <gtest/gtest.h>

#include <cmath>

#include "optim/grad_clip.h"
#include "optim/sgd.h"
#include "parallel/gradient_sync.h"
#include "parallel/zero1.h"
#include "tests/parallel/comm/comm_test_util.h"

namespace attn::test {
namespace {

constexpr int kGroups = 4;  // samples per step over all ranks

struct Model {
  ParamStore store{DType::kF32};
  Model() {
    store.declare("w", {37, 5}, ParamInit::normal(0.5), true);
    store.declare_buffer("buf", {3});  // averaged over ranks after the step
    store.declare("e", {129}, ParamInit::normal(0.5), true);
    store.finalize();
    store.initialize(5);
  }
  // "Backward" of sample j: accumulates g_j into the flat gradients.
  void add_sample_gradient(int j) {
    float* g = store.flat_grads().data<float>();
    for (const ParamInfo& p : store.params())
      if (p.trainable)
        for (int64_t i = 0; i < p.tensor.numel(); ++i)
          g[p.offset + i] += static_cast<float>(std::sin(0.37 * (p.offset + i) + 1.3 * j) / 3);
  }
};

double sample_loss(int j) {
  return std::cos(0.7 * j) / 7;
}

struct Outcome {
  std::vector<float> grads;  // after finish() and clipping
  double loss = 0, norm = 0;
};

// One step through `sync` as a procedure drives it: `parts` parts on this rank (the sync's own
// count when it cuts the batch), part k being sample rank + part * world; `skip` names a part
// with no targets on rank 0 (no backward).
Outcome run_step(GradientSync& sync, Model& m, int rank, int world, int parts, double clip,
                 int skip = -1) {
  if (sync.parts_per_batch() > 0) parts = sync.parts_per_batch();
  m.store.zero_grad();
  std::vector<double> losses(parts, 0.0);
  for (int k = 0; k < parts; ++k) {
    const int part = sync.parts_per_batch() > 0 ? sync.part_order()[k] : k;
    const int j = rank + part * world;
    sync.begin_part(k);
    if (!(rank == 0 && k == skip)) {
      sync.before_backward(k, parts);
      m.add_sample_gradient(j);
      losses[k] = sample_loss(j);
    }
    sync.end_part(k);
  }
  sync.finish();
  Outcome o;
  o.loss = sync.sum_losses(losses);
  o.norm = sync.clip_grad_norm(clip);
  o.grads = m.store.flat_grads().to_vector<float>();
  return o;
}

bool power_of_two(int w) {
  return (w & (w - 1)) == 0;
}

TEST(GradientSync, TreeOnAnyWorldEqualsTheTreeOverAllGroupsOnOneRank) {
  Communicator& comm = world();
  if (!power_of_two(comm.world_size())) GTEST_SKIP() << "the tree needs a power-of-two world";
  Model a, b;
  auto tree = make_tree_sync(a.store, comm, kGroups);
  LocalComm local;
  auto alone = make_tree_sync(b.store, local, kGroups);
  EXPECT_EQ(tree->parts_per_batch(), kGroups / comm.world_size());
  const Outcome got = run_step(*tree, a, comm.rank(), comm.world_size(), 0, 1e9);
  const Outcome want = run_step(*alone, b, 0, 1, 0, 1e9);
  EXPECT_EQ(got.grads, want.grads);
  EXPECT_EQ(got.loss, want.loss);
  EXPECT_EQ(got.norm, want.norm);
}

TEST(GradientSync, BucketsZero1AndTreeAgreeToTheBitWhereTheOrderIsFixed) {
  Communicator& comm = world();
  const int w = comm.world_size(), r = comm.rank();
  if (!power_of_two(w)) GTEST_SKIP() << "the tree needs a power-of-two world";
  const int parts = kGroups / w;
  Model mt, mb, mz;
  auto tree = make_tree_sync(mt.store, comm, kGroups);
  auto buckets = w > 1 ? make_bucketed_sync(mb.store, comm, comm, 0.0005)  // several buckets
                       : make_local_sync(mb.store);
  Zero1Optimizer zero(mz.store, comm, [&](FlatRange s) {
    return std::make_unique<Sgd>(mz.store, SgdOptions{}, s);
  });
  auto zsync = make_zero1_sync(mz.store, comm, zero);
  const Outcome t = run_step(*tree, mt, r, w, parts, 1e9);
  const Outcome b = run_step(*buckets, mb, r, w, parts, 1e9);
  const Outcome z = run_step(*zsync, mz, r, w, parts, 1e9);
  // ZeRO-1 reduces only this rank's shard of the flat buffer.
  FlatRange shard{0, 0};
  for (int i = 0; i < r; ++i) shard.begin += zero.counts()[i];
  shard.end = shard.begin + zero.counts()[r];
  const bool exact = parts <= 2 && w <= 2;
  for (size_t i = 0; i < b.grads.size(); ++i) {
    const bool in_shard =
        static_cast<int64_t>(i) >= shard.begin && static_cast<int64_t>(i) < shard.end;
    if (exact) {
      ASSERT_EQ(b.grads[i], t.grads[i]) << i;
      if (in_shard) {
        ASSERT_EQ(z.grads[i], b.grads[i]) << i;
      }
    } else {
      ASSERT_NEAR(b.grads[i], t.grads[i], 1e-6) << i;
      if (in_shard) {
        ASSERT_NEAR(z.grads[i], b.grads[i], 1e-6) << i;
      }
    }
  }
  EXPECT_NEAR(b.loss, t.loss, 1e-12);
  EXPECT_EQ(b.loss, z.loss);  // the same local sum and the same scalar all-reduce
  EXPECT_NEAR(b.norm, t.norm, 1e-5 * t.norm);
  EXPECT_NEAR(z.norm, t.norm, 1e-5 * t.norm);  // from the shards
  EXPECT_GT(t.norm, 0.1);
}

TEST(GradientSync, EverySyncClipsToTheGlobalNorm) {
  Communicator& comm = world();
  const int w = comm.world_size(), r = comm.rank();
  Model mb, mz;
  auto buckets = w > 1 ? make_bucketed_sync(mb.store, comm, comm, 25) : make_local_sync(mb.store);
  Zero1Optimizer zero(mz.store, comm, [&](FlatRange s) {
    return std::make_unique<Sgd>(mz.store, SgdOptions{}, s);
  });
  auto zsync = make_zero1_sync(mz.store, comm, zero);
  const Outcome b = run_step(*buckets, mb, r, w, 2, 0.25);
  const Outcome z = run_step(*zsync, mz, r, w, 2, 0.25);
  ASSERT_GT(b.norm, 0.25);
  // The clipped whole gradient has norm 0.25; ZeRO-1 clipped its shard by the same factor.
  EXPECT_NEAR(std::sqrt(grad_sum_squares(mb.store, {0, mb.store.padded_size()})), 0.25, 1e-5);
  EXPECT_NEAR(z.norm, b.norm, 1e-5 * b.norm);
}

TEST(GradientSync, APartWithoutTargetsStillCompletesTheReduction) {
  Communicator& comm = world();
  const int w = comm.world_size(), r = comm.rank();
  if (w == 1) GTEST_SKIP() << "needs ranks that differ";
  Model m, ref;
  auto buckets = make_bucketed_sync(m.store, comm, comm, 0.0005);
  // Rank 0's last part has no targets: it never calls before_backward for it.
  const Outcome got = run_step(*buckets, m, r, w, 2, 1e9, /*skip=*/1);
  // The same sum built by hand: every sample but rank 0's second.
  Tensor g = ref.store.flat_grads();
  g.fill_(0.0);
  for (int j = 0; j < 2 * w; ++j)
    if (j != w) ref.add_sample_gradient(j);
  const std::vector<float> want = g.to_vector<float>();
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got.grads[i], want[i], 1e-5) << i;
  double loss = 0;
  for (int j = 0; j < 2 * w; ++j)
    if (j != w) loss += sample_loss(j);
  EXPECT_NEAR(got.loss, loss, 1e-12);
  EXPECT_TRUE(buckets->wait_seconds().has_value());
}

TEST(GradientSync, AfterTheStepBuffersAreTheMeanOverRanks) {
  Communicator& comm = world();
  const int w = comm.world_size(), r = comm.rank();
  if (!power_of_two(w)) GTEST_SKIP() << "the tree needs a power-of-two world";
  for (int which = 0; which < 3; ++which) {
    Model m;
    std::unique_ptr<Zero1Optimizer> zero;
    std::unique_ptr<GradientSync> sync;
    if (which == 0)
      sync = w > 1 ? make_bucketed_sync(m.store, comm, comm, 25) : make_local_sync(m.store);
    if (which == 1) {
      zero = std::make_unique<Zero1Optimizer>(m.store, comm, [&](FlatRange s) {
        return std::make_unique<Sgd>(m.store, SgdOptions{}, s);
      });
      sync = make_zero1_sync(m.store, comm, *zero);
    }
    if (which == 2) sync = make_tree_sync(m.store, comm, kGroups);
    Tensor buf = m.store.find("buf").tensor;
    buf.fill_(static_cast<double>(r + 1));
    run_step(*sync, m, r, w, 1, 1e9);
    sync->after_step();
    // Local syncs leave the buffer as it is; a world of N averages 1..N.
    const double want = w == 1 ? 1.0 : (w + 1) / 2.0;
    for (float v : m.store.find("buf").tensor.to_vector<float>()) EXPECT_EQ(v, want) << which;
  }
}

}  // namespace
}  // namespace attn::test
