// `attnlab train` on model.kind ABMIL end to end, through the real binary: it learns the planted
// keys, AEM's MIL term acts (and weight 0 is the plain run bit for bit), a resumed run continues
// bit for bit, Brown genre bags train from labelled shards, and the errors of bad inputs.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "framework/io/file_util.h"
#include "recipes/data/token_shard.h"
#include "recipes/run/metrics_log.h"
#include "tests/support/cli.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

test::CliResult run_cli(const std::string& args) {
  return test::run_command(ATTNLAB_BINARY, args + " --threads 1");
}

class MilTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir("mil_train");
    std::ofstream(recipe()) << "name: \"m\"\n"
                            << "model { kind: ABMIL abmil { hidden: 32 attention_dim: 16 } }\n"
                            << "data { corpus: MIL batch_size: 8 mil { train_bags: 800 "
                               "val_bags: 300 } }\n"
                            << "optim { lr: 3e-3 warmup_steps: 10 weight_decay: 1e-4 }\n"
                            << "train { steps: 60 eval_every: 30 checkpoint_every: 20 }\n"
                            << "log { every: 1 tensorboard: false }\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string recipe() const { return (dir_ / "r.textproto").string(); }
  std::string run(const std::string& name) const { return (dir_ / name).string(); }
  std::string train(const std::string& name, const std::string& extra = "") const {
    const test::CliResult r =
        run_cli("train " + recipe() + " --quiet --run-dir " + run(name) + " " + extra);
    EXPECT_EQ(r.code, 0) << r.output;
    return r.output;
  }
  // The last value of `key` in a run's metrics.jsonl (NaN when never logged).
  static double last(const std::string& run_dir, const std::string& key) {
    double v = std::nan("");
    for (const auto& row : read_metrics(run_dir + "/metrics.jsonl"))
      if (row.contains(key)) v = row[key].get<double>();
    return v;
  }
  static std::vector<double> losses(const std::string& run_dir) {
    std::vector<double> out;
    for (const auto& row : read_metrics(run_dir + "/metrics.jsonl"))
      if (row.contains("loss")) out.push_back(row["loss"].get<double>());
    return out;
  }
  std::string weights(const std::string& name, int step) const {
    return read_file(run(name) + "/checkpoints/step_" + std::to_string(step) +
                     "/model.safetensors");
  }

  fs::path dir_;
};

TEST_F(MilTrain, LearnsThePlantedKeysAndReportsAccuracyAndAuc) {
  const std::string out =
      train("a", "--set train.steps=300 --set train.eval_every=300 --set data.mil.key_signal=3");
  EXPECT_NE(out.find("accuracy"), std::string::npos) << out;
  EXPECT_GT(last(run("a"), "val_auc"), 0.85);
  EXPECT_GT(last(run("a"), "val_accuracy"), 0.75);
  // The pooling found the keys: far more weight on them than their ~10% share of a bag.
  EXPECT_GT(last(run("a"), "val/attn/key_mass"), 0.3);
  const double h = last(run("a"), "val/attn/pool_entropy_norm");
  EXPECT_TRUE(h > 0 && h < 1) << h;
}

TEST_F(MilTrain, AemRaisesPoolingEntropyAndWeightZeroIsThePlainRun) {
  // Long enough for the pooling to concentrate on the keys without the term.
  const std::string longer = "--set train.steps=300 --set data.mil.key_signal=3 ";
  train("plain", longer);
  train("zero", longer + "--set losses.aem.weight=0");
  train("aem", longer + "--set losses.aem.weight=1");
  EXPECT_EQ(losses(run("plain")), losses(run("zero")));
  EXPECT_EQ(weights("plain", 300), weights("zero", 300));
  EXPECT_TRUE(std::isnan(last(run("plain"), "aux_loss")));
  const double term = last(run("aem"), "loss/aem/pooling");
  EXPECT_LT(term, 0);  // weight * sum p log p
  EXPECT_GT(last(run("aem"), "val/attn/pool_entropy_norm"),
            last(run("plain"), "val/attn/pool_entropy_norm") + 0.05);
}

TEST_F(MilTrain, ResumeContinuesBitForBit) {
  train("a");
  train("b", "--stop-after 30");
  EXPECT_EQ(losses(run("b")).size(), 30u);
  train("b", "--resume");
  EXPECT_EQ(losses(run("a")), losses(run("b")));
  EXPECT_EQ(weights("a", 60), weights("b", 60));
  EXPECT_EQ(last(run("a"), "val_auc"), last(run("b"), "val_auc"));
}

TEST_F(MilTrain, BrownGenreBagsTrainFromLabelledShards) {
  fs::create_directories(dir_ / "brown");
  auto shard = [](int docs, int seed) {
    TokenShard s;
    s.vocab_size = 256;
    for (int d = 0; d < docs; ++d) {
      const bool fiction = d % 2 == 1;
      std::string text;
      for (int i = 0; i < 30; ++i)
        text += fiction ? "She said nothing to him " + std::to_string(i + seed) + ". "
                        : "The committee reported " + std::to_string(i * seed) + " votes. ";
      append_document(s, std::vector<int32_t>(text.begin(), text.end()), fiction ? 9 : 0);
    }
    return s;
  };
  write_token_shard((dir_ / "brown/train.bin").string(), shard(20, 1));
  write_token_shard((dir_ / "brown/val.bin").string(), shard(6, 2));
  const std::string dir = (dir_ / "brown").string();
  train("brown", "--set data.mil.source=BROWN_GENRE --set data.dir=" + dir +
                     " --set data.mil.train_bags=0 --set data.mil.val_bags=0"
                     " --set model.abmil.encoder_buckets=512 --set model.abmil.encoder_width=16");
  EXPECT_GT(last(run("brown"), "val_auc"), 0.9);  // the two genres share no word
  EXPECT_TRUE(std::isnan(last(run("brown"), "val/attn/key_mass")));

  // Unlabelled shards (not from `attnlab data brown`) are an input error naming the file.
  TokenShard unlabelled = shard(4, 3);
  unlabelled.labels.assign(4, kNoLabel);
  write_token_shard((dir_ / "brown/val.bin").string(), unlabelled);
  const test::CliResult bad = run_cli("train " + recipe() + " --quiet --run-dir " + run("bad") +
                                      " --set data.mil.source=BROWN_GENRE --set data.dir=" + dir);
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find(dir + "/val.bin: document 0 has no Brown genre label"),
            std::string::npos)
      << bad.output;
  EXPECT_FALSE(fs::exists(run("bad")));  // refused before the run directory exists
}

TEST_F(MilTrain, GptCommandsRefuseAnAbmilRun) {
  train("a", "--set train.steps=20");
  for (const char* command : {"sample", "eval", "attnmap"}) {
    const test::CliResult r =
        test::run_command(ATTNLAB_BINARY, std::string(command) + " " + run("a") +
                                              (command[0] == 'a' ? " --layer 0 --text hi" : ""));
    EXPECT_EQ(r.code, 2) << command << ": " << r.output;
    EXPECT_NE(r.output.find("is an ABMIL run"), std::string::npos) << command << ": " << r.output;
  }
}

TEST_F(MilTrain, RefusesWhatCannotFitInMemoryBeforeAllocating) {
  for (const char* sets :
       {"--set model.abmil.hidden=2000000000",
        "--set data.mil.train_bags=2000000000 --set data.mil.instance_dim=65536"}) {
    const test::CliResult r =
        run_cli("train " + recipe() + " --quiet --run-dir " + run("big") + " " + sets);
    EXPECT_EQ(r.code, 2) << sets << ": " << r.output;
    EXPECT_NE(r.output.find("this machine has"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(run("big")));
  }
}

}  // namespace
}  // namespace attn
