// Rank failures of a data-parallel `attnlab train` under mpirun (issue 25): a rank killed with
// SIGKILL mid-step, a rank that hangs, a rank with another recipe, a rank whose data shard is
// missing. Each job must end within 60 s, non-zero, with a message naming the rank and the
// cause, and leave no attnlab process behind.
#include "tests/parallel/train/train_cli_fixture.h"

#include <chrono>

#include "framework/io/file_util.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

class RankFaults : public test::MultiRankTrainCli {
 protected:
  // Runs `command` and checks the job ended in time, non-zero, saying each of `fragments`.
  void expect_job_ends(const std::string& what, const test::CliResult& r, double seconds,
                       const std::vector<std::string>& fragments) {
    EXPECT_NE(r.code, 0) << what << ": " << r.output;
    EXPECT_LT(seconds, 60.0) << what;
    for (const std::string& f : fragments)
      EXPECT_NE(r.output.find(f), std::string::npos) << what << ": expected '" << f << "' in\n"
                                                     << r.output;
    // No rank of this job outlives it (its run directory is on its command line; "[a]" keeps
    // the pattern from matching the shell that runs pgrep).
    const test::CliResult ps =
        test::run_command("pgrep", "-f '[a]ttnlab train .*" + dir_.string() + "' || true");
    EXPECT_EQ(ps.output, "") << what << ": processes left behind";
  }
  // mpirun with one app per rank (MPMD): `per_rank[r]` is rank r's "flags binary args".
  test::CliResult mpmd(const std::vector<std::string>& per_rank) {
    std::string cmd = std::string(ATTNLAB_MPIEXEC) + " " + ATTNLAB_MPIEXEC_FLAGS;
    for (size_t r = 0; r < per_rank.size(); ++r)
      cmd += (r ? " : " : " ") + std::string("-np 1 ") + per_rank[r];
    return test::run_command(cmd, "");
  }
  std::string train_args(const std::string& name, const std::string& extra = "") const {
    return std::string(ATTNLAB_BINARY) + " train " + recipe() + " --quiet --threads 1 --run-dir " +
           run(name) + " " + extra;
  }
};

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST_F(RankFaults, KilledRankEndsTheJob) {
  const auto t0 = std::chrono::steady_clock::now();
  const test::CliResult r = train(2, "kill", "", true, "ATTNLAB_FAULT_INJECT=kill@step_3_rank_1");
  expect_job_ends("SIGKILL", r, since(t0), {"rank 1", "signal 9"});
}

TEST_F(RankFaults, HungRankEndsTheJobAtTheTimeout) {
  const auto t0 = std::chrono::steady_clock::now();
  const test::CliResult r = train(2, "hang", "--set parallel.timeout_s=5", true,
                                  "ATTNLAB_FAULT_INJECT=hang@step_3_rank_1");
  const double seconds = since(t0);
  expect_job_ends("hang", r, seconds, {"rank 0: ", "watchdog", "made no progress for 5 s"});
  EXPECT_GT(seconds, 5.0);
}

TEST_F(RankFaults, RankWithAnotherRecipeIsRefusedBeforeTraining) {
  const auto t0 = std::chrono::steady_clock::now();
  const test::CliResult r = mpmd({train_args("hash"), train_args("hash", "--set optim.lr=1e-2")});
  expect_job_ends("recipe hash", r, since(t0),
                  {"rank 1: its recipe", "differs from rank 0's", "same recipe"});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_FALSE(fs::exists(run("hash") + "/checkpoints")) << "trained despite the mismatch";
}

TEST_F(RankFaults, RankMissingItsShardNamesTheRankAndTheFile) {
  // The same recipe with a relative shard path, started in two directories: on rank 1's the
  // shard is missing, as on a node without the dataset.
  const fs::path a = dir_ / "node_a", b = dir_ / "node_b";
  fs::create_directories(a);
  fs::create_directories(b);
  fs::copy_file(dir_ / "train.bin", a / "train.bin");
  fs::copy_file(dir_ / "val.bin", a / "val.bin");
  fs::copy_file(dir_ / "val.bin", b / "val.bin");
  std::string text = read_file(recipe());
  for (const char* name : {"train.bin", "val.bin"}) {
    const std::string abs = (dir_ / name).string();
    text.replace(text.find(abs), abs.size(), name);
  }
  std::ofstream(dir_ / "relative.textproto") << text;
  const std::string args = std::string(ATTNLAB_BINARY) + " train " +
                           (dir_ / "relative.textproto").string() +
                           " --quiet --threads 1 --run-dir " + run("shard");
  const auto t0 = std::chrono::steady_clock::now();
  const test::CliResult r =
      mpmd({"-wdir " + a.string() + " " + args, "-wdir " + b.string() + " " + args});
  expect_job_ends("missing shard", r, since(t0), {"rank 1: ", "train.bin: token shard not found"});
  EXPECT_EQ(r.code, 2) << r.output;
}

}  // namespace
}  // namespace attn
