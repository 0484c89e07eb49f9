// LocalComm, the world of one, on its own (not through world()): identities and copies, and
// sends to self matched with receives in MPI's order. Purely local, so safe on every rank.
#include <gtest/gtest.h>

#include "tests/parallel/comm/comm_test_util.h"

namespace attn::test {
namespace {

TEST(LocalComm, CollectivesAreIdentitiesAndCopies) {
  LocalComm comm;
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.world_size(), 1);
  const std::vector<double> v = ranked<double>(0, 7).to_vector<double>();

  Tensor t = ranked<double>(0, 7);
  comm.all_reduce_sum(t);
  comm.broadcast(t, 0);
  comm.barrier();
  EXPECT_EQ(t.to_vector<double>(), v);

  Tensor out = Tensor::zeros({7}, DType::kF64);
  comm.reduce_scatter_sum(t, out);
  EXPECT_EQ(out.to_vector<double>(), v);
  out.zero_();
  comm.all_gather_v(t, out, {7});
  EXPECT_EQ(out.to_vector<double>(), v);

  // all_to_all_v copies the self chunk between the given offsets.
  Tensor recv = Tensor::full({9}, -1, DType::kF64);
  comm.all_to_all_v(t, Chunks{{3}, {2}}, recv, Chunks{{3}, {5}});
  EXPECT_EQ(recv.to_vector<double>(), (std::vector<double>{-1, -1, -1, -1, -1, 2, 3, 4, -1}));
  EXPECT_THROW(comm.all_to_all_v(t, Chunks{{3}, {0}}, recv, Chunks{{2}, {0}}), Error);
}

TEST(LocalComm, SendsToSelfMatchReceivesInOrder) {
  LocalComm comm;
  Tensor a = Tensor::zeros({3}, DType::kI32), b = Tensor::zeros({3}, DType::kI32);
  // Receives posted before the sends get them in posting order.
  Request ra = comm.i_recv(a, 0, 4);
  Request rb = comm.i_recv(b, 0, 4);
  EXPECT_FALSE(ra.test());
  comm.send(Tensor::from_vector<int32_t>({3}, {1, 2, 3}), 0, 4);
  comm.send(Tensor::from_vector<int32_t>({3}, {4, 5, 6}), 0, 4);
  rb.wait();
  ra.wait();
  EXPECT_EQ(a.to_vector<int32_t>(), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(b.to_vector<int32_t>(), (std::vector<int32_t>{4, 5, 6}));
  // Sends before receives are buffered, per tag, in send order.
  comm.send(Tensor::from_vector<int32_t>({3}, {7, 8, 9}), 0, 1);
  comm.send(Tensor::from_vector<int32_t>({3}, {0, 0, 1}), 0, 2);
  comm.recv(a, 0, 2);
  comm.recv(b, 0, 1);
  EXPECT_EQ(a.to_vector<int32_t>(), (std::vector<int32_t>{0, 0, 1}));
  EXPECT_EQ(b.to_vector<int32_t>(), (std::vector<int32_t>{7, 8, 9}));
}

TEST(LocalComm, UnmatchedOrMismatchedReceivesFail) {
  LocalComm comm;
  Tensor t = Tensor::zeros({3});
  // Nothing else can ever send: waiting would hang, so it fails.
  EXPECT_THROW(comm.recv(t, 0, 9), Error);
  Request r = comm.i_recv(t, 0, 9);
  EXPECT_THROW(r.wait(), Error);
  EXPECT_TRUE(r.done());
  comm.send(Tensor::zeros({4}), 0, 3);
  EXPECT_THROW(comm.recv(t, 0, 3), Error);  // 4 elements into 3
}

}  // namespace
}  // namespace attn::test
