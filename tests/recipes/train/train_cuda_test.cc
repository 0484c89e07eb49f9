// `attnlab train --set train.device=CUDA` end to end through the real binary (skipped without a
// GPU): the tiny recipe's model on the GPU follows the CPU's loss curve, repeats itself to the
// bit, and its checkpoints resume on the other device.
//
// Tolerances. f32: every GPU kernel rounds like its CPU twin up to summation order, so 50 steps
// stay within 1e-4 relative per step (the bound). bf16 matrix inputs carry 8 mantissa
// bits: each product is off by ~2^-9 relative and the curve drifts, so the bf16 run is held to
// 2% per step and 1% on the mean of the last ten steps.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>

#include "recipes/data/token_shard.h"
#include "recipes/run/metrics_log.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/recipes/support/word_corpus.h"
#include "tests/support/cli.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

class TrainCuda : public test::Cuda {
 protected:
  void SetUp() override {
    test::Cuda::SetUp();
    if (IsSkipped()) return;
    dir_ = test::fresh_temp_dir("train_cuda");
    write_token_shard((dir_ / "train.bin").string(), test::word_corpus(1, 400));
    write_token_shard((dir_ / "val.bin").string(), test::word_corpus(2, 40));
    // recipes/pretrain/brown_tiny.textproto's model and optimizer on the test corpus.
    std::ofstream(recipe()) << "name: \"tiny\"\n"
                            << "model { width: 128 layers: 4 heads: 4 mlp_ratio: 4 seq_len: 256 "
                               "positional: ROPE }\n"
                            << "data { corpus: SHARDS train: \"" << (dir_ / "train.bin").string()
                            << "\" val: \"" << (dir_ / "val.bin").string()
                            << "\" batch_size: 16 }\n"
                            << "optim { lr: 3e-3 warmup_steps: 20 weight_decay: 0.1 "
                               "grad_clip: 1.0 }\n"
                            << "train { steps: 50 eval_every: 25 eval_steps: 2 "
                               "checkpoint_every: 25 }\n"
                            << "log { every: 1 }\n";
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::string recipe() const { return (dir_ / "tiny.textproto").string(); }

  // The binary this build made, or $ATTNLAB_BINARY: on the GPU machine the build folder lands
  // under another path (tools/gpu/run.sh sets it).
  static std::string binary() {
    const char* env = std::getenv("ATTNLAB_BINARY");
    return env && *env ? env : ATTNLAB_BINARY;
  }

  // Trains into run directory `name` and returns its training losses by step.
  std::vector<double> train(const std::string& name, const std::string& flags) {
    const std::string run_dir = (dir_ / name).string();
    const test::CliResult r = test::run_command(
        binary(), "train " + recipe() + " --quiet --run-dir " + run_dir + " " + flags);
    EXPECT_EQ(r.code, 0) << r.output;
    std::vector<double> out;
    for (const auto& row : read_metrics(run_dir + "/metrics.jsonl"))
      if (row.contains("loss")) out.push_back(row["loss"].get<double>());
    return out;
  }

  fs::path dir_;
};

void expect_curves_close(const std::vector<double>& want, const std::vector<double>& got,
                         double rel) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], rel * std::abs(want[i])) << "step " << i + 1;
}

constexpr const char* kGpu = "--set train.device=CUDA";

TEST_F(TrainCuda, F32LossesMatchTheCpuFor50Steps) {
  const std::vector<double> cpu = train("cpu", "");
  const std::vector<double> gpu = train("gpu", kGpu);
  ASSERT_EQ(cpu.size(), 50u);
  expect_curves_close(cpu, gpu, 1e-4);
  EXPECT_LT(gpu.back(), gpu.front());
}

TEST_F(TrainCuda, Bf16LossesStayNearTheCpu) {
  const std::vector<double> cpu = train("cpu", "");
  const std::vector<double> bf16 = train("bf16", std::string(kGpu) + " --set train.precision=BF16");
  expect_curves_close(cpu, bf16, 2e-2);
  auto tail_mean = [](const std::vector<double>& v) {
    return std::accumulate(v.end() - 10, v.end(), 0.0) / 10;
  };
  EXPECT_NEAR(tail_mean(bf16), tail_mean(cpu), 1e-2 * tail_mean(cpu));
}

TEST_F(TrainCuda, SameSeedGivesBitIdenticalLosses) {
  const std::vector<double> a = train("a", kGpu);
  const std::vector<double> b = train("b", kGpu);
  ASSERT_EQ(a.size(), 50u);
  EXPECT_EQ(a, b);  // exact: no float atomics in any reduction
}

TEST_F(TrainCuda, CheckpointsResumeAcrossDevices) {
  const std::vector<double> gpu_only = train("gpu_only", kGpu);
  // GPU for 25 steps, then the CPU; and the other way round.
  train("g2c", std::string(kGpu) + " --stop-after 25");
  const std::vector<double> g2c = train("g2c", "--resume");
  train("c2g", "--stop-after 25");
  const std::vector<double> c2g = train("c2g", std::string(kGpu) + " --resume");
  ASSERT_EQ(g2c.size(), 50u);
  ASSERT_EQ(c2g.size(), 50u);
  expect_curves_close(gpu_only, g2c, 1e-4);
  expect_curves_close(gpu_only, c2g, 1e-4);
  // The first 25 steps of g2c were the GPU's own: exact.
  EXPECT_TRUE(std::equal(g2c.begin(), g2c.begin() + 25, gpu_only.begin()));
}

}  // namespace
}  // namespace attn
