// The fixture of the multi-rank training tests: a tiny word corpus and recipe (20 steps of 8
// rows), `attnlab train` alone or under mpirun, and the run's losses and final weights.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "framework/io/safetensors.h"
#include "recipes/data/token_shard.h"
#include "recipes/run/metrics_log.h"
#include "tests/recipes/support/word_corpus.h"
#include "tests/support/cli.h"
#include "tests/support/temp_dir.h"

namespace attn::test {

namespace fs = std::filesystem;

class MultiRankTrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir("train_cli");
    write_token_shard((dir_ / "train.bin").string(), test::word_corpus(1, 120));
    write_token_shard((dir_ / "val.bin").string(), test::word_corpus(2, 24));
    std::ofstream(recipe()) << "name: \"dp\"\n"
                            << "model { width: 32 layers: 2 heads: 2 seq_len: 32 mlp_ratio: 2 }\n"
                            << "data { corpus: SHARDS train: \"" << (dir_ / "train.bin").string()
                            << "\" val: \"" << (dir_ / "val.bin").string() << "\" batch_size: 8 }\n"
                            << "optim { lr: 3e-3 warmup_steps: 2 }\n"
                            << "train { steps: 20 eval_every: 10 eval_steps: 2 "
                               "checkpoint_every: 10 }\n"
                            << "parallel { mode: DATA_PARALLEL bucket_mb: 0.01 }\n"
                            << "log { every: 1 tensorboard: false }\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string recipe() const { return (dir_ / "r.textproto").string(); }
  std::string run(const std::string& name) const { return (dir_ / name).string(); }

  // `attnlab train` on `np` ranks (np 0: without mpirun), 1 thread each; `env` ("NAME=value")
  // reaches every rank.
  test::CliResult train(int np, const std::string& name, const std::string& extra = "",
                        bool quiet = true, const std::string& env = "") {
    const std::string args = "train " + recipe() + (quiet ? " --quiet" : "") +
                             " --threads 1 --run-dir " + run(name) + " " + extra;
    if (np == 0) return test::run_command(binary_, args, env);
    const std::string forward = env.empty() ? "" : " -x " + env.substr(0, env.find('='));
    return test::run_command(std::string(ATTNLAB_MPIEXEC) + " -np " + std::to_string(np) + " " +
                                 ATTNLAB_MPIEXEC_FLAGS + forward + " " + binary_,
                             args, env);
  }

  std::vector<double> losses(const std::string& name) const {
    std::vector<double> out;
    for (const auto& row : read_metrics(run(name) + "/metrics.jsonl"))
      if (row.contains("loss")) out.push_back(row["loss"].get<double>());
    return out;
  }

  // Largest difference of the final weights of two runs, relative to each tensor's largest
  // magnitude (AdamW turns gradient reassociation noise on near-zero gradients into
  // lr-sized steps, so element-wise relative errors are not meaningful).
  double weight_difference(const std::string& a, const std::string& b,
                           const std::string& file = "model.safetensors") const {
    const std::string ckpt = "/checkpoints/step_20/" + file;
    const SafetensorsFile fa = read_safetensors(run(a) + ckpt);
    const SafetensorsFile fb = read_safetensors(run(b) + ckpt);
    double worst = 0;
    EXPECT_EQ(fa.tensors.size(), fb.tensors.size());
    for (const auto& [name, ta] : fa.tensors) {
      const std::vector<double> va = ta.to_vector<double>();
      const std::vector<double> vb = fb.get(name).to_vector<double>();
      double scale = 1e-12, diff = 0;
      for (size_t i = 0; i < va.size(); ++i) {
        scale = std::max(scale, std::abs(va[i]));
        diff = std::max(diff, std::abs(va[i] - vb[i]));
      }
      worst = std::max(worst, diff / scale);
    }
    return worst;
  }

  static void expect_close(const std::vector<double>& a, const std::vector<double>& b) {
    ASSERT_EQ(a.size(), b.size());
    ASSERT_EQ(a.size(), 20u);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6 * std::abs(a[i])) << i;
  }

  fs::path dir_;
  std::string binary_ = ATTNLAB_BINARY;  // the attnlab under test
};

}  // namespace attn::test
