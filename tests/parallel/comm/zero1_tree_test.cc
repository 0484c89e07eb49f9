// ZeRO-1 and the deterministic group tree at the level of the flat buffers, at every world
// size the communicator tests run at: each rank's shard of an AdamW step and the gathered state
// against one whole-buffer AdamW; the tree's sums against the serial tree over all groups.
#include <gtest/gtest.h>

#include <cmath>

#include "optim/adamw.h"
#include "optim/grad_clip.h"
#include "parallel/group_tree_reduce.h"
#include "parallel/zero1.h"
#include "tests/parallel/comm/comm_test_util.h"

namespace attn::test {
namespace {

// Three parameters of awkward sizes (the flat buffer has gaps and padding).
struct Model {
  ParamStore store{DType::kF32};
  explicit Model(uint64_t seed) {
    store.declare("w", {37, 5}, ParamInit::normal(0.5), true);
    store.declare("b", {3}, ParamInit::normal(0.5), false);
    store.declare("e", {129}, ParamInit::normal(0.5), true);
    store.finalize();
    store.initialize(seed);
  }
  // Rank r's gradient: a fixed pattern that differs per rank and per step.
  void set_grads(int r, int step) {
    float* g = store.flat_grads().data<float>();
    for (const ParamInfo& p : store.params())
      for (int64_t i = 0; i < p.tensor.numel(); ++i)
        g[p.offset + i] = static_cast<float>(std::sin(0.37 * (p.offset + i) + r + 3.1 * step));
  }
};

TEST(Zero1, ShardCountsCoverTheBufferInAlignedPieces) {
  for (int64_t padded : {0, 64, 640, 6400}) {
    for (int world : {1, 2, 3, 4, 7}) {
      const std::vector<int64_t> c = zero1_shard_counts(padded, world);
      ASSERT_EQ(static_cast<int>(c.size()), world);
      int64_t total = 0;
      for (int64_t n : c) {
        EXPECT_EQ(total % 64, 0) << "shards start at multiples of 64";
        total += n;
      }
      EXPECT_EQ(total, padded) << padded << " over " << world;
    }
  }
}

TEST(Zero1, ShardedStepsEqualOneWholeBufferAdamW) {
  Communicator& comm = world();
  const int w = comm.world_size();
  AdamWOptions o{.lr = 0.01, .weight_decay = 0.1};
  Model sharded(5), reference(5);
  Zero1Optimizer zero(sharded.store, comm, [&](FlatRange shard) {
    return std::make_unique<AdamW>(sharded.store, o, shard);
  });
  AdamW whole(reference.store, o);
  for (int step = 0; step < 3; ++step) {
    sharded.set_grads(comm.rank(), step);
    zero.reduce_scatter_gradients();
    const double norm = zero.clip_grad_norm(1.0);
    zero.step();
    // The reference sums the ranks' gradients serially (exact: rank counts <= 4 in f32 is not
    // exact in general, so compare within rounding).
    Tensor g = reference.store.flat_grads();
    g.fill_(0.0);
    for (int r = 0; r < w; ++r) {
      Model tmp(5);
      tmp.set_grads(r, step);
      float* dst = g.data<float>();
      const float* src = tmp.store.flat_grads().data<float>();
      for (int64_t i = 0; i < g.numel(); ++i) dst[i] += src[i];
    }
    EXPECT_NEAR(clip_grad_norm(reference.store, 1.0), norm, 1e-5 * norm);
    whole.step();
    const std::vector<float> a = sharded.store.flat_params().to_vector<float>();
    const std::vector<float> b = reference.store.flat_params().to_vector<float>();
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5) << "step " << step;
  }
  // The gathered state is the whole optimizer's, in the same per-parameter form.
  const NamedTensors gathered = zero.state();
  const NamedTensors expected = whole.state();
  ASSERT_EQ(gathered.size(), expected.size());
  for (size_t i = 0; i < gathered.size(); ++i) {
    EXPECT_EQ(gathered[i].first, expected[i].first);
    const std::vector<double> x = gathered[i].second.to_vector<double>();
    const std::vector<double> y = expected[i].second.to_vector<double>();
    ASSERT_EQ(x.size(), y.size());
    for (size_t k = 0; k < x.size(); ++k) EXPECT_NEAR(x[k], y[k], 1e-6 + 1e-4 * std::abs(y[k]));
  }
  // Loading the whole state keeps each rank's shard and the step count.
  Model fresh(6);
  Zero1Optimizer loaded(fresh.store, comm, [&](FlatRange shard) {
    return std::make_unique<AdamW>(fresh.store, o, shard);
  });
  loaded.load_state(gathered);
  const NamedTensors round_trip = loaded.state();
  for (size_t i = 0; i < gathered.size(); ++i)
    EXPECT_EQ(round_trip[i].second.to_vector<double>(), gathered[i].second.to_vector<double>());
  NamedTensors broken = gathered;
  broken.pop_back();  // no "step"
  EXPECT_THROW(loaded.load_state(broken), Error);
}

// The serial reference: group j's value is f(j); the tree adds j and j + G/2 first.
double serial_tree(std::vector<double> v) {
  for (size_t half = v.size() / 2; half >= 1; half /= 2)
    for (size_t j = 0; j < half; ++j) v[j] += v[j + half];
  return v[0];
}

// Magnitudes that make the order of additions visible in the last bits.
double group_value(int j) {
  return std::ldexp(1.0 + 0.1 * j, (j * 7) % 40) * (j % 3 ? 1 : -1);
}

TEST(GroupTree, SumsLikeTheSerialTreeOverAllGroups) {
  Communicator& comm = world();
  const int w = comm.world_size(), me = comm.rank();
  if (w & (w - 1)) GTEST_SKIP() << "the tree needs a power-of-two world";
  for (int groups : {w, 2 * w, 8 * w}) {
    ParamStore store(DType::kF64);
    store.declare("x", {3}, ParamInit::zeros(), false);
    store.finalize();
    GroupTreeReduce tree(store, comm, groups);
    ASSERT_EQ(tree.local_groups(), groups / w);
    std::vector<double> all(groups), local(tree.local_groups());
    for (int j = 0; j < groups; ++j) all[j] = group_value(j);
    for (int m = 0; m < tree.local_groups(); ++m) local[m] = all[me + m * w];
    EXPECT_EQ(tree.sum(local), serial_tree(all)) << groups << " groups";
    // Gradients: element k of group j is group_value(j + k).
    for (int m : tree.order()) {
      double* g = store.flat_grads().data<double>();
      for (int k = 0; k < 3; ++k) g[k] = group_value(me + m * w + k);
      tree.add_group();
    }
    tree.finish();
    for (int k = 0; k < 3; ++k) {
      std::vector<double> col(groups);
      for (int j = 0; j < groups; ++j) col[j] = group_value(j + k);
      EXPECT_EQ(store.flat_grads().data<double>()[k], serial_tree(col)) << "element " << k;
    }
  }
}

TEST(GroupTree, RefusesGroupCountsTheWorldCannotTake) {
  Communicator& comm = world();
  ParamStore store(DType::kF64);
  store.declare("x", {1}, ParamInit::zeros(), false);
  store.finalize();
  EXPECT_THROW(GroupTreeReduce(store, comm, 6), Error);
  if (comm.world_size() > 1) {
    EXPECT_THROW(GroupTreeReduce(store, comm, 1), Error);
  }
}

}  // namespace
}  // namespace attn::test
