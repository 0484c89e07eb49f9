// Failure handling seen from outside the job: mpirun runs comm_fault_worker, and the job must
// end quickly with a non-zero exit code and a message naming the rank and the cause.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/support/cli.h"

namespace attn::test {
namespace {

struct TimedRun {
  CliResult result;
  double seconds;
};

TimedRun run_worker(const std::string& launcher, const std::string& mode) {
  const auto start = std::chrono::steady_clock::now();
  CliResult r = run_command(launcher, ATTNLAB_COMM_FAULT_WORKER " " + mode);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  return {r, took.count()};
}

const std::string kMpirun2 = ATTNLAB_MPIEXEC " " ATTNLAB_MPIEXEC_NP2;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(MpiFault, ThrowingRankAbortsTheJob) {
  const TimedRun run = run_worker(kMpirun2, "throw");
  const std::string& out = run.result.output;
  EXPECT_EQ(run.result.code, 2) << out;  // attn::Error of kind kInput exits 2
  EXPECT_TRUE(contains(out, "rank 1: ")) << out;
  EXPECT_TRUE(contains(out, "injected failure for the fault test")) << out;
  EXPECT_LT(run.seconds, 30.0) << out;
}

TEST(MpiFault, StuckCollectiveTripsTheWatchdog) {
  const TimedRun run = run_worker(kMpirun2, "sleep");
  const std::string& out = run.result.output;
  EXPECT_EQ(run.result.code, 3) << out;
  EXPECT_TRUE(contains(out,
                       "rank 0: watchdog: all_reduce_sum (7 elements) made no progress "
                       "for 1 s; aborting"))
      << out;
  EXPECT_LT(run.seconds, 8.0) << out;  // the sleeper would take 10 s
}

// CAD: a rank killed between the executor's collectives, and a rank whose plan disagrees. Both
// end every rank quickly with a named cause; no rank waits for the dead one.
TEST(MpiFault, CadRankKilledMidExchangeEndsTheJob) {
  const TimedRun run = run_worker(kMpirun2, "cad-kill");
  const std::string& out = run.result.output;
  EXPECT_NE(run.result.code, 0) << out;
  EXPECT_TRUE(contains(out, "rank 0: watchdog: all_gather") || contains(out, "signal 9") ||
              contains(out, "Killed"))
      << out;
  EXPECT_LT(run.seconds, 10.0) << out;
}

TEST(MpiFault, CadPlansThatDisagreeEndTheJobNamingTheRank) {
  const TimedRun run = run_worker(kMpirun2, "cad-disagree");
  const std::string& out = run.result.output;
  EXPECT_EQ(run.result.code, 1) << out;  // an internal error: every rank planned the same batch
  EXPECT_TRUE(contains(out, "CAD plans disagree: rank 1 has plan hash")) << out;
  EXPECT_LT(run.seconds, 10.0) << out;
}

// Without mpirun the world is LocalComm: the same guard prints and exits with the error's code.
// Alone, run_guarded lets the error through to the caller's usual report.
TEST(MpiFault, WorldOfOneReportsAndExits) {
  const TimedRun run = run_worker("", "throw");
  const std::string& out = run.result.output;
  EXPECT_EQ(run.result.code, 2) << out;
  EXPECT_TRUE(contains(out, "error: ")) << out;
  EXPECT_TRUE(contains(out, "injected failure for the fault test")) << out;
}

}  // namespace
}  // namespace attn::test
