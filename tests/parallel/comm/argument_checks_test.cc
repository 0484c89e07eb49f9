// Misuse is caught on each rank before anything is sent: every rank throws the same Error, so
// these tests stay collective-safe (no rank is left inside a collective).
#include <gtest/gtest.h>

#include <string>

#include "tests/parallel/comm/comm_test_util.h"

namespace attn::test {
namespace {

// Runs f, expecting an attn::Error whose message contains `needle`.
template <typename F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ArgumentChecks, SizesAndDtypes) {
  Communicator& comm = world();
  const int w = comm.world_size();
  Tensor out = Tensor::zeros({3});
  expect_error([&] { comm.reduce_scatter_sum(Tensor::zeros({w * 3 + 1}), out); },
               "reduce_scatter_sum: input f32");
  expect_error([&] { comm.reduce_scatter_sum(Tensor::zeros({w * 3}, DType::kF64), out); },
               "differ in dtype");
  Tensor too_big = Tensor::zeros({w * 3 + 1});
  expect_error([&] { comm.all_gather(out, too_big); }, "all_gather: output");
  Tensor half = Tensor::zeros({2}, DType::kBF16);
  expect_error([&] { comm.all_reduce_sum(half); }, "cannot sum bf16");
  Tensor undefined;
  expect_error([&] { comm.all_reduce_sum(undefined); }, "undefined");
}

TEST(ArgumentChecks, Counts) {
  Communicator& comm = world();
  const int w = comm.world_size(), me = comm.rank();
  Tensor in = Tensor::zeros({9}), out = Tensor::zeros({10});
  expect_error([&] { comm.reduce_scatter_sum_v(in, out, std::vector<int64_t>(w + 1, 1)); },
               "counts for a world of");
  std::vector<int64_t> negative(w, 10);
  negative[w - 1] = -1;
  expect_error([&] { comm.all_gather_v(in, out, negative); }, "negative count");
  std::vector<int64_t> wrong(w, 1);
  wrong[me] = 10;  // input and output sizes cannot both agree with these
  expect_error([&] { comm.reduce_scatter_sum_v(in, out, wrong); }, "counts sum to");
}

TEST(ArgumentChecks, AllToAllChunksInsideTheBuffers) {
  Communicator& comm = world();
  const int w = comm.world_size();
  Tensor send = Tensor::zeros({4}), recv = Tensor::zeros({4});
  Chunks ok = Chunks::packed(std::vector<int64_t>(w, 0));
  Chunks outside = ok;
  outside.offsets[0] = 3;
  outside.counts[0] = 2;  // [3, 5) of a 4-element buffer
  expect_error([&] { comm.all_to_all_v(send, outside, recv, ok); }, "lies outside");
  Chunks short_offsets = ok;
  short_offsets.offsets.pop_back();
  expect_error([&] { comm.all_to_all_v(send, ok, recv, short_offsets); }, "offsets for");
}

TEST(ArgumentChecks, PeersRootsAndTags) {
  Communicator& comm = world();
  const int w = comm.world_size();
  Tensor t = Tensor::zeros({2});
  expect_error([&] { comm.broadcast(t, w); }, "broadcast: root");
  expect_error([&] { comm.broadcast(t, -1); }, "broadcast: root");
  expect_error([&] { comm.send(t, w, 0); }, "outside the world");
  expect_error([&] { comm.recv(t, 0, 40000); }, "tag 40000");
}

// MPI forbids aliased input and output; a view of the same storage must be refused.
TEST(ArgumentChecks, OverlappingInputAndOutput) {
  Communicator& comm = world();
  const int w = comm.world_size();
  Tensor flat = Tensor::zeros({w * 4});
  Tensor shard = flat.slice0(0, 4);
  expect_error([&] { comm.reduce_scatter_sum(flat, shard); }, "overlap");
  expect_error([&] { comm.all_gather(shard, flat); }, "overlap");
}

}  // namespace
}  // namespace attn::test
