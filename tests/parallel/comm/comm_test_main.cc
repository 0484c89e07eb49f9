// Entry point of comm_test: one communicator for the whole run (MPI starts once), every rank
// runs every test in the same order, rank 0 prints the usual output and other ranks print only
// their failures, and the exit code is non-zero if any rank failed.
#include <gtest/gtest.h>

#include <cstdio>

#include "parallel/comm/world.h"
#include "tests/parallel/comm/comm_test_util.h"

namespace attn::test {

namespace {

Communicator* g_world = nullptr;

// Non-zero ranks: failures only, prefixed with the rank (rank 0 prints everything).
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "rank %d: %s:%d: Failure\n%s\n", rank_, r.file_name() ? r.file_name() : "",
                 r.line_number(), r.message());
  }
  void OnTestEnd(const ::testing::TestInfo& t) override {
    if (t.result()->Failed())
      std::fprintf(stderr, "rank %d: [  FAILED  ] %s.%s\n", rank_, t.test_suite_name(), t.name());
  }

 private:
  int rank_;
};

}  // namespace

Communicator& world() {
  return *g_world;
}

}  // namespace attn::test

int main(int argc, char** argv) {
  // mpirun hands ranks a pseudo-terminal, which would put colour codes into ctest's logs.
  if (attn::started_by_mpirun()) GTEST_FLAG_SET(color, "no");
  ::testing::InitGoogleTest(&argc, argv);
  // A mismatched collective (a test bug) ends in the watchdog well before ctest's timeout.
  std::unique_ptr<attn::Communicator> comm = attn::make_world_communicator(60.0);
  attn::test::g_world = comm.get();
  if (comm->rank() == 0)
    std::printf("comm_test: world of %d (%s)\n", comm->world_size(),
                attn::started_by_mpirun() ? "MpiComm" : "LocalComm");
  if (comm->rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new attn::test::RankFailurePrinter(comm->rank()));
  }
  const int code = attn::run_guarded(*comm, [] { return RUN_ALL_TESTS(); });

  // Every rank learns whether any rank failed, so mpirun's exit code covers all of them.
  attn::Tensor failed = attn::Tensor::from_vector<int32_t>({1}, {code != 0 ? 1 : 0});
  comm->all_reduce_sum(failed);
  const int failed_ranks = static_cast<int>(failed.item());
  if (comm->rank() == 0 && failed_ranks > 0)
    std::fprintf(stderr, "%d of %d ranks had failures\n", failed_ranks, comm->world_size());
  attn::test::g_world = nullptr;
  comm.reset();
  return failed_ranks > 0 ? 1 : 0;
}
