// Non-blocking operations: overlapping requests waited in any order, polling with test(), and
// the handle's lifetime rules (destroying or replacing a request waits for it).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/parallel/comm/comm_test_util.h"

namespace attn::test {
namespace {

std::vector<float> summed(int world, int64_t n, int64_t base = 0) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i)
    for (int r = 0; r < world; ++r) v[i] += static_cast<float>(value_at(r, base + i));
  return v;
}

TEST(Requests, TwoInFlightWaitedInReverseOrder) {
  Communicator& comm = world();
  const int w = comm.world_size(), me = comm.rank();
  Tensor a = ranked<float>(me, 1023);
  Tensor b = ranked<float>(me, 7);
  Tensor gathered = Tensor::zeros({w * 7});
  Request ra = comm.i_all_reduce_sum(a);
  Request rb = comm.i_all_gather(b, gathered);
  rb.wait();
  ra.wait();
  EXPECT_TRUE(ra.done() && rb.done());
  EXPECT_EQ(a.to_vector<float>(), summed(w, 1023));
  std::vector<float> want;
  for (int r = 0; r < w; ++r)
    for (int64_t i = 0; i < 7; ++i) want.push_back(static_cast<float>(value_at(r, i)));
  EXPECT_EQ(gathered.to_vector<float>(), want);
}

// The pattern of gradient buckets: several reduce-scatters in flight, then polled.
TEST(Requests, ReduceScattersPolledWithTest) {
  Communicator& comm = world();
  const int w = comm.world_size(), me = comm.rank();
  std::vector<Tensor> outs;
  std::vector<Request> reqs;
  for (int64_t n : {1, 7, 1023}) {
    outs.push_back(Tensor::zeros({n}));
    reqs.push_back(comm.i_reduce_scatter_sum(ranked<float>(me, w * n), outs.back()));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (Request& r : reqs)
    while (!r.test() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  for (size_t k = 0; k < outs.size(); ++k) {
    EXPECT_TRUE(reqs[k].done());
    const int64_t n = outs[k].numel();
    EXPECT_EQ(outs[k].to_vector<float>(), summed(w, n, me * n)) << "n=" << n;
  }
}

TEST(Requests, NonBlockingRingOverlapsBothDirections) {
  Communicator& comm = world();
  const int w = comm.world_size(), me = comm.rank();
  const int next = (me + 1) % w, prev = (me + w - 1) % w;
  Tensor from_prev = Tensor::zeros({1023}, DType::kI64),
         from_next = Tensor::zeros({7}, DType::kI64);
  std::vector<Request> reqs;
  reqs.push_back(comm.i_send(ranked<int64_t>(me, 1023), next, 0));
  reqs.push_back(comm.i_send(ranked<int64_t>(me, 7), prev, 1));
  reqs.push_back(comm.i_recv(from_prev, prev, 0));
  reqs.push_back(comm.i_recv(from_next, next, 1));
  for (auto it = reqs.rbegin(); it != reqs.rend(); ++it) it->wait();
  EXPECT_EQ(from_prev.to_vector<int64_t>(), ranked<int64_t>(prev, 1023).to_vector<int64_t>());
  EXPECT_EQ(from_next.to_vector<int64_t>(), ranked<int64_t>(next, 7).to_vector<int64_t>());
}

TEST(Requests, DestroyingARequestWaitsForIt) {
  Communicator& comm = world();
  Tensor t = ranked<float>(comm.rank(), 7);
  { Request r = comm.i_all_reduce_sum(t); }
  EXPECT_EQ(t.to_vector<float>(), summed(comm.world_size(), 7));
}

TEST(Requests, ReplacingARequestWaitsForTheOldOne) {
  Communicator& comm = world();
  Tensor a = ranked<float>(comm.rank(), 7), b = ranked<float>(comm.rank(), 1);
  Request r = comm.i_all_reduce_sum(a);
  r = comm.i_all_reduce_sum(b);
  EXPECT_EQ(a.to_vector<float>(), summed(comm.world_size(), 7));
  r.wait();
  EXPECT_EQ(b.to_vector<float>(), summed(comm.world_size(), 1));
}

// The request holds the buffers: the caller may drop its handles right after starting.
TEST(Requests, RequestKeepsItsBuffersAlive) {
  Communicator& comm = world();
  Tensor gathered = Tensor::zeros({comm.world_size() * 1023});
  Request r = comm.i_all_gather(ranked<float>(comm.rank(), 1023), gathered);
  r.wait();
  EXPECT_EQ(gathered.to_vector<float>()[1022], static_cast<float>(value_at(0, 1022)));
}

TEST(Requests, MovedAndDefaultRequestsAreDone) {
  Communicator& comm = world();
  Request none;
  EXPECT_TRUE(none.done());
  EXPECT_TRUE(none.test());
  none.wait();
  Tensor t = ranked<double>(comm.rank(), 3);
  Request r = comm.i_broadcast(t, 0);
  Request moved = std::move(r);
  EXPECT_TRUE(r.done());  // NOLINT(bugprone-use-after-move): a moved-from request is empty
  moved.wait();
  EXPECT_EQ(t.to_vector<double>(), ranked<double>(0, 3).to_vector<double>());
  Request b = comm.i_barrier();
  b.wait();
}

}  // namespace
}  // namespace attn::test
