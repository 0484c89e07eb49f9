// Failures during a run (issue 25): a run whose loss turns non-finite stops naming the step and
// keeps its last good checkpoint, from which it resumes; a disk that fills up during a
// checkpoint write ends the run with a clear error, the previous checkpoint intact and no
// temporary directory left (on a small tmpfs: skipped where this process may not mount one).
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "framework/io/file_util.h"
#include "recipes/data/token_shard.h"
#include "recipes/run/metrics_log.h"
#include "tests/recipes/support/word_corpus.h"
#include "tests/support/cli.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

class RunFailures : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir("run_failures");
    write_token_shard((dir_ / "train.bin").string(), test::word_corpus(1, 60));
    write_token_shard((dir_ / "val.bin").string(), test::word_corpus(2, 10));
    std::ofstream(recipe()) << "name: \"f\"\n"
                            << "model { width: 32 layers: 1 heads: 2 seq_len: 16 mlp_ratio: 2 }\n"
                            << "data { corpus: SHARDS train: \"" << (dir_ / "train.bin").string()
                            << "\" val: \"" << (dir_ / "val.bin").string() << "\" batch_size: 4 }\n"
                            << "optim { lr: 3e-3 warmup_steps: 1 }\n"
                            << "train { steps: 8 eval_every: 4 eval_steps: 1 checkpoint_every: 2 "
                               "keep_last: 0 }\n"
                            << "log { every: 1 }\n";
  }
  void TearDown() override {
    ::umount((dir_ / "small_disk").c_str());  // when a failed check skipped the test's own
    fs::remove_all(dir_);
  }
  std::string recipe() const { return (dir_ / "r.textproto").string(); }
  test::CliResult train(const fs::path& run, const std::string& extra = "",
                        const std::string& env = "") const {
    return test::run_command(
        ATTNLAB_BINARY, "train " + recipe() + " --quiet --run-dir " + run.string() + extra, env);
  }
  static std::vector<double> losses(const fs::path& run) {
    std::vector<double> out;
    for (const auto& row : read_metrics((run / "metrics.jsonl").string()))
      if (row.contains("loss")) out.push_back(row["loss"].get<double>());
    return out;
  }
  fs::path dir_;
};

TEST_F(RunFailures, NonFiniteLossStopsNamingTheStepAndKeepsTheLastGoodCheckpoint) {
  const fs::path run = dir_ / "nan";
  const test::CliResult r = train(run, "", "ATTNLAB_FAULT_INJECT=nan@step_5_rank_0");
  EXPECT_EQ(r.code, 1) << r.output;  // not bad input: the run diverged
  EXPECT_NE(r.output.find("step 5: training loss is nan"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Last good checkpoint: " + (run / "checkpoints/step_4").string()),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(run / "checkpoints/step_6"));
  EXPECT_EQ(test::run_command(ATTNLAB_BINARY, "eval " + run.string()).code, 0);
  // The good checkpoint resumes to exactly the run that never diverged.
  ASSERT_EQ(train(run, " --resume").code, 0);
  ASSERT_EQ(train(dir_ / "clean").code, 0);
  EXPECT_EQ(losses(run), losses(dir_ / "clean"));
}

TEST_F(RunFailures, FullDiskDuringACheckpointKeepsThePreviousOne) {
  // How much one checkpoint takes, from a run on the ordinary disk.
  const fs::path probe = dir_ / "probe";
  ASSERT_EQ(train(probe, " --stop-after 2").code, 0);
  uintmax_t run_bytes = 0, checkpoint_bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(probe)) {
    if (!e.is_regular_file()) continue;
    const uintmax_t pages = (e.file_size() + 4095) / 4096 * 4096 + 4096;
    run_bytes += pages;
    if (e.path().string().find("/checkpoints/") != std::string::npos) checkpoint_bytes += pages;
  }
  // Room for everything up to step 2 plus half a checkpoint: step 4's write must fail.
  const fs::path mnt = dir_ / "small_disk";
  fs::create_directories(mnt);
  const std::string size = "size=" + std::to_string(run_bytes + checkpoint_bytes / 2);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, size.c_str()) != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  const fs::path run = mnt / "run";
  const test::CliResult r = train(run);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("No space left on device"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(run / "checkpoints/step_2/DONE")) << r.output;
  for (const auto& e : fs::directory_iterator(run / "checkpoints"))
    EXPECT_EQ(e.path().filename().string().rfind("step_", 0), 0u) << "left behind: " << e.path();
  const test::CliResult ev = test::run_command(ATTNLAB_BINARY, "eval " + run.string());
  EXPECT_EQ(ev.code, 0) << ev.output;
  ::umount(mnt.c_str());
}

}  // namespace
}  // namespace attn
