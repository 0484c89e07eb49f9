// Fine-tuning data end to end through the `attnlab` binary: SYNTHETIC tasks and SFT JSONL files
// train with response-only loss, log exact match and the response focus on the test split,
// resume bit for bit; the mask and target options act; bad inputs exit 2 naming the place.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "framework/io/safetensors.h"
#include "recipes/data/sft_example.h"
#include "recipes/run/metrics_log.h"
#include "tests/support/cli.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

using test::CliResult;

CliResult run_cli(const std::string& args) {
  return test::run_command(ATTNLAB_BINARY, args);
}

class SftCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir("sft");
    std::ofstream(recipe()) << "name: \"s\"\n"
                            << "model { width: 32 layers: 2 heads: 2 seq_len: 128 mlp_ratio: 2 "
                               "positional: ROPE }\n"
                            << "data { corpus: SYNTHETIC batch_size: 4 synthetic { task: PASSKEY "
                               "length: 128 train_examples: 40 val_examples: 8 test_examples: 6 "
                               "} }\n"
                            << "optim { lr: 3e-3 warmup_steps: 2 }\n"
                            << "train { steps: 12 eval_every: 6 eval_steps: 2 "
                               "checkpoint_every: 6 }\n"
                            << "log { every: 1 attn_every: 6 }\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string recipe() const { return (dir_ / "r.textproto").string(); }
  std::string run(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<nlohmann::json> metrics(const std::string& name) const {
    return read_metrics(run(name) + "/metrics.jsonl");
  }
  std::vector<double> values(const std::string& name, const std::string& key) const {
    std::vector<double> out;
    for (const auto& row : metrics(name))
      if (row.contains(key)) out.push_back(row[key].get<double>());
    return out;
  }
  CliResult train(const std::string& name, const std::string& extra = "") const {
    return run_cli("train " + recipe() + " --quiet --run-dir " + run(name) + extra);
  }

  fs::path dir_;
};

TEST_F(SftCli, SyntheticTaskTrainsLogsTestMetricsAndResumes) {
  const CliResult a = train("a");
  ASSERT_EQ(a.code, 0) << a.output;
  const std::vector<double> loss = values("a", "loss");
  ASSERT_EQ(loss.size(), 12u);
  EXPECT_LT(loss.back(), loss.front());
  // At each evaluation: exact match over the 6 test examples, and where responses look.
  const std::vector<double> em = values("a", "test/exact_match");
  ASSERT_EQ(em.size(), 2u);
  for (double x : em) EXPECT_TRUE(x >= 0 && x <= 1) << x;
  for (const char* key : {"test/attn/sink_mass", "test/attn/context_engagement",
                          "test/attn/sink_mass/l1", "attn/context_engagement"}) {
    const std::vector<double> v = values("a", key);
    ASSERT_FALSE(v.empty()) << key;
    for (double x : v) EXPECT_TRUE(x > 0 && x < 1) << key << " " << x;
  }
  // Resume: the example stream's cursor travels in the checkpoint.
  ASSERT_EQ(train("b", " --stop-after 6").code, 0);
  ASSERT_EQ(train("b", " --resume").code, 0);
  EXPECT_EQ(values("b", "loss"), loss);
  EXPECT_EQ(values("b", "test/attn/context_engagement"),
            values("a", "test/attn/context_engagement"));

  const CliResult e = run_cli("eval " + run("a") + " --json");
  ASSERT_EQ(e.code, 0) << e.output;
  const nlohmann::json j = nlohmann::json::parse(e.output);
  EXPECT_EQ(j["test_examples"].get<int>(), 6);
  EXPECT_EQ(j["test_exact_match"].get<double>(), em.back());
  EXPECT_GT(j["test_context_engagement"].get<double>(), 0);
}

TEST_F(SftCli, MaskAndTargetOptionsAct) {
  ASSERT_EQ(train("seg", " --set train.steps=3").code, 0);
  ASSERT_EQ(train("causal", " --set train.steps=3 --set data.examples.mask=CAUSAL").code, 0);
  ASSERT_EQ(train("all",
                  " --set train.steps=3 --set data.examples.mask=CAUSAL "
                  "--set data.examples.targets=ALL")
                .code,
            0);
  EXPECT_NE(values("seg", "loss"), values("causal", "loss"));
  // Every next token is learned: many more target tokens than the 5-digit answers.
  const std::vector<double> seg = values("seg", "tokens"), all = values("all", "tokens");
  ASSERT_FALSE(seg.empty());
  ASSERT_FALSE(all.empty());
  EXPECT_GT(all.back(), 10 * seg.back());
}

// procedure FOCUS_SFT end to end: it trains (a different curve than plain SFT), logs the loss
// before adaptation, its checkpoints hold the base weights only, and it resumes bit for bit (the
// fast weights are drawn from the step, not carried).
TEST_F(SftCli, FocusSftTrainsCheckpointsBaseWeightsOnlyAndResumes) {
  const std::string focus =
      " --set procedure.kind=FOCUS_SFT --set procedure.focus_sft.lora_rank=4 "
      "--set procedure.focus_sft.lora_alpha=8";
  ASSERT_EQ(train("plain", " --set train.steps=6").code, 0);
  const CliResult a = train("a", focus + " --set train.steps=6");
  ASSERT_EQ(a.code, 0) << a.output;
  const std::vector<double> loss = values("a", "loss"), base = values("a", "focus/base_loss");
  ASSERT_EQ(loss.size(), 6u);
  ASSERT_EQ(base.size(), 6u);
  EXPECT_NE(loss, values("plain", "loss"));
  // The inner loop adapts to the step's own batch: the outer loss is below the base model's.
  for (size_t i = 0; i < loss.size(); ++i) EXPECT_LT(loss[i], base[i]) << i;
  const SafetensorsFile plain =
      read_safetensors(run("plain") + "/checkpoints/step_6/model.safetensors");
  const SafetensorsFile tuned =
      read_safetensors(run("a") + "/checkpoints/step_6/model.safetensors");
  ASSERT_EQ(tuned.tensors.size(), plain.tensors.size());
  for (size_t i = 0; i < tuned.tensors.size(); ++i)
    EXPECT_EQ(tuned.tensors[i].first, plain.tensors[i].first);
  ASSERT_EQ(train("b", focus + " --set train.steps=6 --stop-after 3").code, 0);
  ASSERT_EQ(train("b", focus + " --set train.steps=6 --resume").code, 0);
  EXPECT_EQ(values("b", "loss"), loss);
  EXPECT_EQ(values("b", "test/exact_match"), values("a", "test/exact_match"));
}

TEST_F(SftCli, JsonlFilesTrainAndBadLinesNameTheirPlace) {
  auto write = [&](const std::string& name, int n) {
    std::vector<SftExample> ex;
    for (int i = 0; i < n; ++i) {
      SftExample e;
      e.runs = {{RunRole::kContext, "say " + std::to_string(i % 10) + ":"},
                {RunRole::kResponse, std::to_string(i % 10)}};
      ex.push_back(e);
    }
    write_sft_jsonl((dir_ / name).string(), ex);
    return (dir_ / name).string();
  };
  const std::string files = " --set data.corpus=SFT --set data.train=" + write("train.jsonl", 30) +
                            " --set data.val=" + write("val.jsonl", 8) +
                            " --set data.test=" + write("test.jsonl", 10);
  const CliResult ok = train("j", files);
  ASSERT_EQ(ok.code, 0) << ok.output;
  EXPECT_EQ(values("j", "test/exact_match").size(), 2u);

  std::ofstream(dir_ / "val.jsonl", std::ios::app) << "{\"runs\": [{\"role\": \"nobody\"}]}\n";
  const CliResult bad = train("bad", files);
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("val.jsonl:9"), std::string::npos) << bad.output;
}

TEST_F(SftCli, RecipesThatCannotWorkAreRefused) {
  struct Bad {
    std::string set, phrase;
  };
  for (const Bad& b : {Bad{" --set data.examples.targets=ALL", "use mask CAUSAL"},
                       Bad{" --set data.synthetic.length=256", "do not fit model.seq_len"},
                       Bad{" --set data.test=x.jsonl", "corpus SFT only"},
                       Bad{" --set data.corpus=SFT", "JSONL files"}}) {
    const CliResult r = train("bad", b.set);
    EXPECT_EQ(r.code, 2) << b.set << "\n" << r.output;
    EXPECT_NE(r.output.find(b.phrase), std::string::npos) << b.set << "\n" << r.output;
  }
}

}  // namespace
}  // namespace attn
