// `attnlab ablate` end to end through the real binary: the shipped micro grid (on synthetic
// shards) writes every result file; a killed grid resumes without redoing finished runs; a
// failing run is reported while the others finish; SIGINT stops the grid resumably.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "framework/io/file_util.h"
#include "recipes/data/token_shard.h"
#include "tests/recipes/support/word_corpus.h"
#include "tests/support/cli.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace attn {
namespace {

namespace fs = std::filesystem;

using test::CliResult;

CliResult run_cli(const std::string& args, const std::string& env = "") {
  return test::run_command(ATTNLAB_BINARY, args, env);
}

// How many times ablate launched `attnlab train` for a run (one header line per launch).
int launches(const fs::path& run_dir) {
  std::ifstream in(run_dir / "train.log");
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.rfind("=== attnlab ablate", 0) == 0;
  return n;
}

class AblateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir("ablate_cli");
    write_token_shard((dir_ / "train.bin").string(), test::word_corpus(1, 120));
    write_token_shard((dir_ / "val.bin").string(), test::word_corpus(2, 60));
    // A recipe smaller than micro's base for the tests that write their own grid.
    std::ofstream(dir_ / "tiny.textproto")
        << "name: \"tiny\"\n"
        << "model { width: 32 layers: 1 heads: 2 seq_len: 32 mlp_ratio: 2 }\n"
        << "data { corpus: SHARDS train: \"" << (dir_ / "train.bin").string() << "\" val: \""
        << (dir_ / "val.bin").string() << "\" batch_size: 4 }\n"
        << "optim { lr: 3e-3 warmup_steps: 2 }\n"
        << "train { steps: 10 eval_every: 0 eval_steps: 2 checkpoint_every: 5 }\n"
        << "log { every: 1 tensorboard: false }\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The shipped micro grid, with its Brown data swapped for the synthetic shards.
  std::string micro_args() const {
    const char* src = std::getenv("ATTNLAB_SOURCE_DIR");
    EXPECT_NE(src, nullptr) << "CTest sets ATTNLAB_SOURCE_DIR";
    return std::string(src ? src : ".") + "/recipes/ablations/micro.textproto" +
           " --set data.corpus=SHARDS --set data.train=" + (dir_ / "train.bin").string() +
           " --set data.val=" + (dir_ / "val.bin").string() + " --out " + out().string();
  }
  void write_grid(const std::string& text) const { std::ofstream(dir_ / "grid.textproto") << text; }
  std::string grid() const { return (dir_ / "grid.textproto").string(); }
  fs::path out() const { return dir_ / "out"; }

  fs::path dir_;
};

TEST_F(AblateCli, MicroGridWritesResultsAndAKilledGridResumesOnlyWhatIsMissing) {
  const auto t0 = std::chrono::steady_clock::now();
  CliResult r = run_cli("ablate " + micro_args() + " --processes 2 --threads 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("[4/4]"), std::string::npos) << r.output;
  for (const char* f : {"results.md", "results.csv", "results_summary.csv", "plots/loss.png"})
    EXPECT_TRUE(fs::exists(out() / f)) << f;
  // One bar chart per metric of micro.textproto.
  for (const char* m :
       {"val_loss", "val_bpb", "train_loss", "loss_spikes", "grad_norm_max", "first_token_mass"})
    EXPECT_TRUE(fs::exists(out() / "plots" / (std::string(m) + ".png"))) << m;
  const std::string md = read_file((out() / "results.md").string());
  EXPECT_NE(md.find("| softmax | 2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| sink | 2 |"), std::string::npos) << md;
  const std::string csv = read_file((out() / "results.csv").string());
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5) << csv;  // header + 4 runs
  for (const char* run : {"softmax/seed1", "softmax/seed2", "sink/seed1", "sink/seed2"}) {
    EXPECT_TRUE(fs::exists(out() / run / "DONE")) << run;
    EXPECT_EQ(launches(out() / run), 1) << run;
  }

  // A grid killed after softmax/seed2 trained (no DONE yet) and before sink started.
  const fs::path kept = out() / "softmax/seed1/metrics.jsonl";
  const auto kept_mtime = fs::last_write_time(kept);
  fs::remove(out() / "softmax/seed2/DONE");
  fs::remove_all(out() / "sink");
  CliResult dry = run_cli("ablate " + micro_args() + " --dry-run");
  ASSERT_EQ(dry.code, 0) << dry.output;
  EXPECT_NE(dry.output.find("done   softmax seed 1"), std::string::npos) << dry.output;
  EXPECT_NE(dry.output.find("resume softmax seed 2"), std::string::npos) << dry.output;
  EXPECT_NE(dry.output.find("new    sink seed 1"), std::string::npos) << dry.output;

  r = run_cli("ablate " + micro_args() + " --processes 2 --threads 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 already done, 3 to train"), std::string::npos) << r.output;
  EXPECT_EQ(launches(out() / "softmax/seed1"), 1);
  EXPECT_EQ(fs::last_write_time(kept), kept_mtime);
  EXPECT_EQ(launches(out() / "softmax/seed2"), 2);
  const std::string log = read_file((out() / "softmax/seed2/train.log").string());
  EXPECT_NE(log.find("--resume"), std::string::npos) << log;
  for (const char* run : {"softmax/seed2", "sink/seed1", "sink/seed2"})
    EXPECT_TRUE(fs::exists(out() / run / "DONE")) << run;
  EXPECT_EQ(launches(out() / "sink/seed1"), 1);

  // --results-only rebuilds the same table without training.
  fs::remove(out() / "results.md");
  r = run_cli("ablate " + micro_args() + " --results-only");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(read_file((out() / "results.md").string()).find("| sink | 2 |"), std::string::npos);
  EXPECT_EQ(launches(out() / "sink/seed1"), 1);
  // Finished runs are never compared under a different definition.
  r = run_cli("ablate " + micro_args() + " --set optim.lr=1e-2 --results-only");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("finished with a different recipe"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("lr"), std::string::npos) << r.output;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("micro grid, resume and results-only: %.1f s\n", seconds);
}

TEST_F(AblateCli, FailingRunIsReportedAndTheOthersFinish) {
  write_grid(
      "name: \"f\" base: \"tiny.textproto\"\n"
      "arm { name: \"good\" }\n"
      "arm { name: \"bad\" set: \"data.val=" +
      (dir_ / "missing.bin").string() +
      "\" }\n"
      "seeds: 1\n");
  CliResult r = run_cli("ablate " + grid() + " --out " + out().string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("run bad/seed1 failed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("missing.bin"), std::string::npos) << r.output;  // the log's tail
  EXPECT_NE(r.output.find("1 of 2 runs failed"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(out() / "good/seed1/DONE"));
  EXPECT_FALSE(fs::exists(out() / "bad/seed1/DONE"));
  const std::string md = read_file((out() / "results.md").string());
  EXPECT_NE(md.find("| good | 1 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| bad | 0 of 1 | - |"), std::string::npos) << md;
}

TEST_F(AblateCli, BadArmOverrideFailsBeforeAnythingTrains) {
  write_grid(
      "name: \"t\" base: \"tiny.textproto\"\n"
      "arm { name: \"a\" }\n"
      "arm { name: \"typo\" set: \"attention.knd=SINK\" }\n"
      "seeds: 1\n");
  CliResult r = run_cli("ablate " + grid() + " --out " + out().string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("grid.textproto:3: arm \"typo\""), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out()));
}

TEST_F(AblateCli, SigintStopsTheGridAndARerunResumes) {
  write_grid(
      "name: \"s\" base: \"tiny.textproto\"\n"
      "set: \"train.steps=1000\"\n"
      "arm { name: \"a\" }\n"
      "seeds: 1\n");
  const std::string log = (dir_ / "ablate.log").string();
  const std::string cmd = "exec " + std::string(ATTNLAB_BINARY) + " ablate " + grid() + " --out " +
                          out().string() + " --threads 1 > " + log + " 2>&1";
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  // Interrupt once the run has its first checkpoint (it then has ~990 steps to go).
  const fs::path first = out() / "a/seed1/checkpoints/step_5/DONE";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(first) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(first));
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  const std::string output = read_file(log);
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGINT) << output;
  EXPECT_NE(output.find("rerun the same command to resume"), std::string::npos) << output;
  EXPECT_FALSE(fs::exists(out() / "a/seed1/DONE"));
  // The child got the forwarded signal and checkpointed before the end.
  EXPECT_NE(read_file((out() / "a/seed1/train.log").string()).find("stopped after"),
            std::string::npos);

  CliResult r = run_cli("ablate " + grid() + " --out " + out().string() + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out() / "a/seed1/DONE"));
  EXPECT_EQ(launches(out() / "a/seed1"), 2);
  const std::string train_log = read_file((out() / "a/seed1/train.log").string());
  EXPECT_NE(train_log.find("--resume"), std::string::npos) << train_log;
}

}  // namespace
}  // namespace attn
