// Point to point and all-to-all-v against the serial computation: a ring of sends, tags matched
// out of order, and all-to-all with uneven, zero and non-packed chunks.
#include <gtest/gtest.h>

#include "tests/parallel/comm/comm_test_util.h"

namespace attn::test {
namespace {

template <typename T>
class Exchange : public ::testing::Test {};
using AllDtypes = ::testing::Types<float, double, int32_t, int64_t>;
TYPED_TEST_SUITE(Exchange, AllDtypes);

// Each rank sends to the next and receives from the previous (a world of one sends to itself).
TYPED_TEST(Exchange, SendRecvRing) {
  using T = TypeParam;
  Communicator& comm = world();
  const int w = comm.world_size(), me = comm.rank();
  const int next = (me + 1) % w, prev = (me + w - 1) % w;
  for (int64_t n : kSizes) {
    Tensor in = Tensor::full({n}, -1, dtype_of<T>);
    // Receive posted first: a blocking send of a large message waits for its receiver.
    Request r = comm.i_recv(in, prev, 5);
    comm.send(ranked<T>(me, n), next, 5);
    r.wait();
    EXPECT_EQ(in.to_vector<T>(), ranked<T>(prev, n).template to_vector<T>()) << "n=" << n;
  }
}

// Two messages on one link with different tags, received in the opposite order.
TEST(Exchange, TagsMatchOutOfOrder) {
  Communicator& comm = world();
  const int w = comm.world_size(), me = comm.rank();
  const int next = (me + 1) % w, prev = (me + w - 1) % w;
  Tensor first = Tensor::zeros({7}, DType::kF64), second = Tensor::zeros({1023}, DType::kF64);
  Request r2 = comm.i_recv(second, prev, 2);
  Request r1 = comm.i_recv(first, prev, 1);
  Request s1 = comm.i_send(ranked<double>(me, 7), next, 1);
  Request s2 = comm.i_send(ranked<double>(me, 1023, 50), next, 2);
  r2.wait();
  r1.wait();
  s2.wait();
  s1.wait();
  EXPECT_EQ(first.to_vector<double>(), ranked<double>(prev, 7).to_vector<double>());
  EXPECT_EQ(second.to_vector<double>(), ranked<double>(prev, 1023, 50).to_vector<double>());
}

// Elements rank `from` sends to rank `to`: uneven, zero for some pairs (including self).
int64_t pair_count(int from, int to, int64_t scale) {
  return ((from * 7 + to * 3) % 5) * scale;
}
double pair_value(int from, int to, int64_t k) {
  return from * 10000.0 + to * 1000.0 + k;
}

TYPED_TEST(Exchange, AllToAllVUnevenZeroAndGappedChunks) {
  using T = TypeParam;
  Communicator& comm = world();
  const int w = comm.world_size(), me = comm.rank();
  for (int64_t scale : {1, 3, 201}) {
    // Send side: packed in destination order.
    std::vector<int64_t> send_counts(w);
    for (int d = 0; d < w; ++d) send_counts[d] = pair_count(me, d, scale);
    const Chunks sc = Chunks::packed(send_counts);
    std::vector<T> send_values;
    for (int d = 0; d < w; ++d)
      for (int64_t k = 0; k < send_counts[d]; ++k)
        send_values.push_back(static_cast<T>(pair_value(me, d, k)));
    Tensor send = Tensor::from_vector<T>({static_cast<int64_t>(send_values.size())}, send_values);

    // Receive side: sources in reverse order with a one-element gap after each chunk, so the
    // offsets are not the packed ones; gaps must keep their sentinel.
    Chunks rc{std::vector<int64_t>(w), std::vector<int64_t>(w)};
    int64_t at = 0;
    for (int s = w - 1; s >= 0; --s) {
      rc.counts[s] = pair_count(s, me, scale);
      rc.offsets[s] = at;
      at += rc.counts[s] + 1;
    }
    Tensor recv = Tensor::full({at}, -1, dtype_of<T>);
    comm.all_to_all_v(send, sc, recv, rc);

    std::vector<T> want(at, static_cast<T>(-1));
    for (int s = 0; s < w; ++s)
      for (int64_t k = 0; k < rc.counts[s]; ++k)
        want[rc.offsets[s] + k] = static_cast<T>(pair_value(s, me, k));
    EXPECT_EQ(recv.to_vector<T>(), want) << "scale=" << scale;
  }
}

}  // namespace
}  // namespace attn::test
