// NcclComm on GPU buffers against the serial computation of the same per-rank values (exact:
// every value and sum is an integer below 2^24, so all dtypes compare with ==). Runs under
// mpirun with 2 ranks and alone (a world of one). NCCL refuses two ranks on one GPU, so the
// ranks skip, all together, when the build has no NCCL or a rank sees fewer GPUs than ranks.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "framework/kernels/cuda/runtime.h"
#include "parallel/comm/nccl_comm.h"
#include "parallel/comm/world.h"
#include "tests/parallel/comm/comm_test_util.h"

namespace attn::test {

namespace {

Communicator* g_world = nullptr;       // MpiComm or LocalComm: bootstraps NCCL
std::unique_ptr<Communicator> g_nccl;  // null when skipped
std::string g_skip;                    // why, the same on every rank

// Collective: every rank skips if any rank cannot run NCCL, so no rank waits in a collective
// that the others skipped.
std::string skip_reason(Communicator& w) {
  std::string mine;
  if (!built_with_nccl())
    mine = "built without CUDA/NCCL";
  else if (cuda::device_count() == 0)
    mine = "no CUDA device on this machine";
  else if (cuda::device_count() < w.world_size())
    mine = fmt::format("{} GPU(s) for {} ranks: NCCL needs a distinct GPU per rank",
                       cuda::device_count(), w.world_size());
  Tensor bad = Tensor::from_vector<int32_t>({1}, {mine.empty() ? 0 : 1});
  w.all_reduce_sum(bad);
  if (bad.item() == 0) return "";
  return mine.empty() ? "another rank cannot run NCCL" : mine;
}

// Non-zero ranks: failures only, prefixed with the rank (rank 0 prints everything).
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "rank %d: %s:%d: Failure\n%s\n", rank_,
                   r.file_name() ? r.file_name() : "", r.line_number(), r.message());
  }

 private:
  int rank_;
};

class Nccl : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_nccl) GTEST_SKIP() << g_skip;
  }
  static Communicator& comm() { return *g_nccl; }
  static Tensor gpu(const Tensor& host) { return host.to(g_nccl->buffer_device()); }
  static Tensor gpu_full(int64_t n, DType d) {
    return Tensor::full({n}, -1, d, g_nccl->buffer_device());
  }
};

template <typename T>
class NcclSums : public Nccl {};
using SumDtypes = ::testing::Types<float, double, int32_t, int64_t>;
TYPED_TEST_SUITE(NcclSums, SumDtypes);

template <typename T>
T serial_sum(int world, int64_t i) {
  double s = 0;
  for (int r = 0; r < world; ++r) s += value_at(r, i);
  return static_cast<T>(s);
}

// kSizes plus one large enough for NCCL to split it over channels and chunks.
const std::vector<int64_t> kNcclSizes = {0, 1, 7, 1023, (int64_t{1} << 20) + 3};

TYPED_TEST(NcclSums, AllReduceSum) {
  using T = TypeParam;
  const int w = this->comm().world_size();
  for (int64_t n : kNcclSizes) {
    Tensor t = this->gpu(ranked<T>(this->comm().rank(), n));
    this->comm().all_reduce_sum(t);
    std::vector<T> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = serial_sum<T>(w, i);
    EXPECT_EQ(t.to_vector<T>(), want) << "n=" << n;
  }
}

TYPED_TEST(NcclSums, ReduceScatterSum) {
  using T = TypeParam;
  const int w = this->comm().world_size(), me = this->comm().rank();
  for (int64_t n : kNcclSizes) {
    Tensor in = this->gpu(ranked<T>(me, w * n));  // [world * n]
    Tensor out = this->gpu_full(n, dtype_of<T>);
    this->comm().reduce_scatter_sum(in, out);
    std::vector<T> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = serial_sum<T>(w, me * n + i);
    EXPECT_EQ(out.to_vector<T>(), want) << "n=" << n;
    EXPECT_EQ(in.to_vector<T>(), ranked<T>(me, w * n).template to_vector<T>()) << "input kept";
  }
}

TYPED_TEST(NcclSums, ReduceScatterSumUnevenCounts) {
  using T = TypeParam;
  const int w = this->comm().world_size(), me = this->comm().rank();
  for (int64_t n : kSizes) {
    const Chunks c = Chunks::packed(uneven_counts(n, w));
    Tensor in = this->gpu(ranked<T>(me, c.offsets.back() + c.counts.back()));
    Tensor out = this->gpu_full(c.counts[me], dtype_of<T>);
    this->comm().reduce_scatter_sum_v(in, out, c.counts);
    std::vector<T> want(c.counts[me]);
    for (int64_t i = 0; i < c.counts[me]; ++i) want[i] = serial_sum<T>(w, c.offsets[me] + i);
    EXPECT_EQ(out.to_vector<T>(), want) << "n=" << n;
  }
}

TYPED_TEST(NcclSums, AllGather) {
  using T = TypeParam;
  const int w = this->comm().world_size();
  for (int64_t n : kNcclSizes) {
    Tensor in = this->gpu(ranked<T>(this->comm().rank(), n));
    Tensor out = this->gpu_full(w * n, dtype_of<T>);  // [world * n]
    this->comm().all_gather(in, out);
    std::vector<T> want;
    for (int r = 0; r < w; ++r)
      for (int64_t i = 0; i < n; ++i) want.push_back(static_cast<T>(value_at(r, i)));
    EXPECT_EQ(out.to_vector<T>(), want) << "n=" << n;
  }
}

TYPED_TEST(NcclSums, AllGatherUnevenCounts) {
  using T = TypeParam;
  const int w = this->comm().world_size(), me = this->comm().rank();
  for (int64_t n : kSizes) {
    const Chunks c = Chunks::packed(uneven_counts(n, w));
    Tensor in = this->gpu(ranked<T>(me, c.counts[me]));
    Tensor out = this->gpu_full(c.offsets.back() + c.counts.back(), dtype_of<T>);
    this->comm().all_gather_v(in, out, c.counts);
    std::vector<T> want;
    for (int r = 0; r < w; ++r)
      for (int64_t i = 0; i < c.counts[r]; ++i) want.push_back(static_cast<T>(value_at(r, i)));
    EXPECT_EQ(out.to_vector<T>(), want) << "n=" << n;
  }
}

// bf16 is moved bit for bit (ncclBfloat16), never summed.
TEST_F(Nccl, MovesBf16Bits) {
  const int w = comm().world_size(), me = comm().rank();
  const int64_t n = 1001;
  Tensor host = Tensor::empty({n}, DType::kBF16);
  uint16_t* h = host.data<uint16_t>();
  for (int64_t i = 0; i < n; ++i) h[i] = static_cast<uint16_t>(me * 7919 + i * 31);  // any bits
  Tensor out = Tensor::zeros({w * n}, DType::kBF16, g_nccl->buffer_device());
  comm().all_gather(gpu(host), out);
  Tensor back = out.to(Device::cpu());
  for (int r = 0; r < w; ++r)
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(back.data<uint16_t>()[r * n + i], static_cast<uint16_t>(r * 7919 + i * 31))
          << "rank " << r << " element " << i;
}

TEST_F(Nccl, BroadcastFromEveryRoot) {
  const int w = comm().world_size(), me = comm().rank();
  for (int root = 0; root < w; ++root) {
    for (int64_t n : kNcclSizes) {
      Tensor t = gpu(ranked<double>(me, n));
      comm().broadcast(t, root);
      EXPECT_EQ(t.to_vector<double>(), ranked<double>(root, n).to_vector<double>())
          << "root " << root << " n=" << n;
    }
  }
}

// Rank r sends (r + 2d + 1) % 4 elements to rank d (zeros included); element k of that chunk is
// r * 10000 + d * 100 + k, so every misplaced element is visible.
TEST_F(Nccl, AllToAllV) {
  const int w = comm().world_size(), me = comm().rank();
  auto count = [](int from, int to) { return int64_t{(from + 2 * to + 1) % 4}; };
  std::vector<int64_t> sc(w), rc(w);
  for (int p = 0; p < w; ++p) {
    sc[p] = count(me, p);
    rc[p] = count(p, me);
  }
  const Chunks send_chunks = Chunks::packed(sc), recv_chunks = Chunks::packed(rc);
  std::vector<float> send_v, want;
  for (int d = 0; d < w; ++d)
    for (int64_t k = 0; k < sc[d]; ++k) send_v.push_back(me * 10000.0f + d * 100.0f + k);
  for (int s = 0; s < w; ++s)
    for (int64_t k = 0; k < rc[s]; ++k) want.push_back(s * 10000.0f + me * 100.0f + k);
  Tensor send = gpu(Tensor::from_vector<float>({static_cast<int64_t>(send_v.size())}, send_v));
  Tensor recv = gpu_full(static_cast<int64_t>(want.size()), DType::kF32);
  comm().all_to_all_v(send, send_chunks, recv, recv_chunks);
  EXPECT_EQ(recv.to_vector<float>(), want);
}

// Both halves of the exchange are posted before either is waited for (NCCL matches them as one
// group); in a world of one the rank sends to itself.
TEST_F(Nccl, SendRecvRing) {
  const int w = comm().world_size(), me = comm().rank();
  const int next = (me + 1) % w, prev = (me + w - 1) % w;
  for (int64_t n : kNcclSizes) {
    Tensor out = gpu(ranked<int32_t>(me, n));
    Tensor in = gpu_full(n, DType::kI32);
    Communicator::Request s = comm().i_send(out, next, 3);
    Communicator::Request r = comm().i_recv(in, prev, 3);
    r.wait();
    s.wait();
    EXPECT_EQ(in.to_vector<int32_t>(), ranked<int32_t>(prev, n).to_vector<int32_t>()) << "n=" << n;
  }
}

// Messages between two ranks arrive in the order they were sent, whatever order the requests
// are waited in.
TEST_F(Nccl, MessagesArriveInSendOrder) {
  const int w = comm().world_size(), me = comm().rank();
  const int next = (me + 1) % w, prev = (me + w - 1) % w;
  Tensor a = gpu(ranked<float>(me, 5)), b = gpu(ranked<float>(me, 5, 100));
  Tensor ra = gpu_full(5, DType::kF32), rb = gpu_full(5, DType::kF32);
  Communicator::Request sa = comm().i_send(a, next, 0);
  Communicator::Request sb = comm().i_send(b, next, 1);
  Communicator::Request qa = comm().i_recv(ra, prev, 0);
  Communicator::Request qb = comm().i_recv(rb, prev, 1);
  qb.wait();
  qa.wait();
  sb.wait();
  sa.wait();
  EXPECT_EQ(ra.to_vector<float>(), ranked<float>(prev, 5).to_vector<float>());
  EXPECT_EQ(rb.to_vector<float>(), ranked<float>(prev, 5, 100).to_vector<float>());
}

// Several reductions in flight at once, driven by test() like DataParallel's buckets.
TEST_F(Nccl, NonBlockingReductionsComplete) {
  const int w = comm().world_size(), me = comm().rank();
  const std::vector<int64_t> sizes = {3, 4096, (int64_t{1} << 18) + 1};
  std::vector<Tensor> bufs;
  std::vector<Communicator::Request> reqs;
  for (size_t k = 0; k < sizes.size(); ++k) {
    bufs.push_back(gpu(ranked<float>(me, sizes[k], 1000 * static_cast<int64_t>(k))));
    reqs.push_back(comm().i_all_reduce_sum(bufs.back()));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!reqs.back().test()) ASSERT_LT(std::chrono::steady_clock::now(), deadline);
  for (Communicator::Request& r : reqs) r.wait();
  for (size_t k = 0; k < sizes.size(); ++k) {
    std::vector<float> want(sizes[k]);
    for (int64_t i = 0; i < sizes[k]; ++i)
      want[i] = serial_sum<float>(w, 1000 * static_cast<int64_t>(k) + i);
    EXPECT_EQ(bufs[k].to_vector<float>(), want) << "buffer " << k;
  }
}

// The reduction must see what the compute stream wrote just before it (an asynchronous
// memset here), not the older contents.
TEST_F(Nccl, OrderedAfterComputeStream) {
  const int64_t n = int64_t{1} << 22;
  Tensor t = gpu(ranked<float>(comm().rank() + 1, n));
  t.zero_();  // queued on the compute stream, not waited for
  Communicator::Request r = comm().i_all_reduce_sum(t);
  r.wait();
  EXPECT_EQ(t.to_vector<float>(), std::vector<float>(n, 0.0f));
}

TEST_F(Nccl, Barrier) {
  for (int k = 0; k < 3; ++k) comm().barrier();
  Communicator::Request r = comm().i_barrier();
  r.wait();
  EXPECT_TRUE(r.done());
}

// Rejected on every rank alike before anything is sent, so the next test still lines up.
TEST_F(Nccl, HostBuffersAreRefused) {
  Tensor host = ranked<float>(comm().rank(), 4);
  EXPECT_THROW(comm().all_reduce_sum(host), Error);
  Tensor dev = gpu(host);
  EXPECT_THROW(g_world->all_reduce_sum(dev), Error) << "MpiComm takes host buffers only";
  try {
    comm().broadcast(host, 0);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(g_nccl->buffer_device().str()), std::string::npos)
        << e.what();
  }
}

TEST(NcclBuild, BuffersLiveWhereTheBackendSays) {
  EXPECT_TRUE(g_world->buffer_device().is_cpu());
  if (g_nccl) {
    EXPECT_TRUE(g_nccl->buffer_device().is_cuda());
  }
  if (!built_with_nccl()) {
    EXPECT_THROW(make_nccl_comm(*g_world), Error);
  }
}

}  // namespace

// comm_test_util.h's accessor: here the bootstrap communicator.
Communicator& world() {
  return *g_world;
}

}  // namespace attn::test

int main(int argc, char** argv) {
  using namespace attn;
  if (started_by_mpirun()) GTEST_FLAG_SET(color, "no");
  ::testing::InitGoogleTest(&argc, argv);
  std::unique_ptr<Communicator> comm = make_world_communicator(60.0);
  test::g_world = comm.get();
  if (comm->rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new test::RankFailurePrinter(comm->rank()));
  }
  const int code = run_guarded(*comm, [&] {
    test::g_skip = test::skip_reason(*comm);
    if (test::g_skip.empty()) test::g_nccl = make_nccl_comm(*comm, 60.0);
    if (comm->rank() == 0)
      std::printf("nccl_comm_test: world of %d, %s\n", comm->world_size(),
                  test::g_skip.empty() ? "NCCL" : ("skipping: " + test::g_skip).c_str());
    const int rc = RUN_ALL_TESTS();
    test::g_nccl.reset();  // NCCL goes before MPI
    return rc;
  });
  Tensor failed = Tensor::from_vector<int32_t>({1}, {code != 0 ? 1 : 0});
  comm->all_reduce_sum(failed);
  const int failed_ranks = static_cast<int>(failed.item());
  if (comm->rank() == 0 && failed_ranks > 0)
    std::fprintf(stderr, "%d of %d ranks had failures\n", failed_ranks, comm->world_size());
  test::g_world = nullptr;
  comm.reset();
  return failed_ranks > 0 ? 1 : 0;
}
