// Collectives against the serial computation of the same per-rank values, in every summable
// dtype and at empty, single, odd and uneven sizes.
#include <gtest/gtest.h>

#include "tests/parallel/comm/comm_test_util.h"

namespace attn::test {
namespace {

template <typename T>
class Collectives : public ::testing::Test {};
using SumDtypes = ::testing::Types<float, double, int32_t, int64_t>;
TYPED_TEST_SUITE(Collectives, SumDtypes);

// sum over ranks of value_at(r, i), computed serially.
template <typename T>
T serial_sum(int world, int64_t i) {
  double s = 0;
  for (int r = 0; r < world; ++r) s += value_at(r, i);
  return static_cast<T>(s);
}

TYPED_TEST(Collectives, AllReduceSum) {
  using T = TypeParam;
  Communicator& comm = world();
  const int w = comm.world_size();
  for (int64_t n : kSizes) {
    Tensor t = ranked<T>(comm.rank(), n);
    comm.all_reduce_sum(t);
    std::vector<T> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = serial_sum<T>(w, i);
    EXPECT_EQ(t.to_vector<T>(), want) << "n=" << n;
  }
}

TYPED_TEST(Collectives, ReduceScatterSum) {
  using T = TypeParam;
  Communicator& comm = world();
  const int w = comm.world_size(), me = comm.rank();
  for (int64_t n : kSizes) {
    Tensor in = ranked<T>(me, w * n);  // [world * n]
    Tensor out = Tensor::full({n}, -1, dtype_of<T>);
    comm.reduce_scatter_sum(in, out);
    std::vector<T> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = serial_sum<T>(w, me * n + i);
    EXPECT_EQ(out.to_vector<T>(), want) << "n=" << n;
    EXPECT_EQ(in.to_vector<T>(), ranked<T>(me, w * n).template to_vector<T>()) << "input kept";
  }
}

// Totals that do not divide by the world size, and ranks that receive nothing.
TYPED_TEST(Collectives, ReduceScatterSumUnevenCounts) {
  using T = TypeParam;
  Communicator& comm = world();
  const int w = comm.world_size(), me = comm.rank();
  for (int64_t n : kSizes) {
    const Chunks c = Chunks::packed(uneven_counts(n, w));
    const int64_t total = c.offsets.back() + c.counts.back();
    Tensor in = ranked<T>(me, total);
    Tensor out = Tensor::full({c.counts[me]}, -1, dtype_of<T>);
    comm.reduce_scatter_sum_v(in, out, c.counts);
    std::vector<T> want(c.counts[me]);
    for (int64_t i = 0; i < c.counts[me]; ++i) want[i] = serial_sum<T>(w, c.offsets[me] + i);
    EXPECT_EQ(out.to_vector<T>(), want) << "n=" << n;
  }
}

TYPED_TEST(Collectives, AllGather) {
  using T = TypeParam;
  Communicator& comm = world();
  const int w = comm.world_size();
  for (int64_t n : kSizes) {
    Tensor in = ranked<T>(comm.rank(), n);
    Tensor out = Tensor::full({w * n}, -1, dtype_of<T>);  // [world * n]
    comm.all_gather(in, out);
    std::vector<T> want;
    for (int r = 0; r < w; ++r)
      for (int64_t i = 0; i < n; ++i) want.push_back(static_cast<T>(value_at(r, i)));
    EXPECT_EQ(out.to_vector<T>(), want) << "n=" << n;
  }
}

TYPED_TEST(Collectives, AllGatherUnevenCounts) {
  using T = TypeParam;
  Communicator& comm = world();
  const int w = comm.world_size(), me = comm.rank();
  for (int64_t n : kSizes) {
    const std::vector<int64_t> counts = uneven_counts(n, w);
    Tensor in = ranked<T>(me, counts[me]);
    std::vector<T> want;
    for (int r = 0; r < w; ++r)
      for (int64_t i = 0; i < counts[r]; ++i) want.push_back(static_cast<T>(value_at(r, i)));
    Tensor out = Tensor::full({static_cast<int64_t>(want.size())}, -1, dtype_of<T>);
    comm.all_gather_v(in, out, counts);
    EXPECT_EQ(out.to_vector<T>(), want) << "n=" << n;
  }
}

TYPED_TEST(Collectives, BroadcastFromFirstAndLastRank) {
  using T = TypeParam;
  Communicator& comm = world();
  for (int root : {0, comm.world_size() - 1}) {
    for (int64_t n : kSizes) {
      Tensor t = ranked<T>(comm.rank(), n);
      comm.broadcast(t, root);
      EXPECT_EQ(t.to_vector<T>(), ranked<T>(root, n).template to_vector<T>())
          << "root=" << root << " n=" << n;
    }
  }
}

// Data movement takes any dtype, bf16 included (as raw bits); sums do not.
TEST(Collectives, Bf16MovesButDoesNotSum) {
  Communicator& comm = world();
  const int w = comm.world_size();
  Tensor in = ranked<float>(comm.rank(), 5).to(DType::kBF16);
  Tensor out = Tensor::zeros({w * 5}, DType::kBF16);
  comm.all_gather(in, out);
  std::vector<float> want;
  for (int r = 0; r < w; ++r) {
    const std::vector<float> v = ranked<float>(r, 5).to(DType::kBF16).to_vector<float>();
    want.insert(want.end(), v.begin(), v.end());
  }
  EXPECT_EQ(out.to_vector<float>(), want);
  EXPECT_THROW(comm.all_reduce_sum(in), Error);
}

// A barrier is only observable by not hanging; several in a row and mixed with other
// collectives must match up on every rank.
TEST(Collectives, BarriersInterleaveWithCollectives) {
  Communicator& comm = world();
  for (int i = 0; i < 3; ++i) {
    comm.barrier();
    Tensor t = Tensor::full({3}, 1.0, DType::kF64);
    comm.all_reduce_sum(t);
    EXPECT_EQ(t.to_vector<double>(), std::vector<double>(3, comm.world_size()));
  }
}

}  // namespace
}  // namespace attn::test
