// `attnlab train | eval | sample` end to end, through the real binary (a crash mid-checkpoint
// must kill a process, not the test): resume bit-identity, crash safety, thread-count
// determinism, and the errors of bad inputs.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "framework/io/file_util.h"
#include "framework/io/safetensors.h"
#include "recipes/data/token_shard.h"
#include "recipes/run/metrics_log.h"
#include "tests/recipes/support/word_corpus.h"
#include "tests/support/blas_core_types.h"
#include "tests/support/cli.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

using test::CliResult;

CliResult run_cli(const std::string& args, const std::string& env = "") {
  return test::run_command(ATTNLAB_BINARY, args, env);
}

class TrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir("train");
    write_token_shard((dir_ / "train.bin").string(), test::word_corpus(1, 120));
    write_token_shard((dir_ / "val.bin").string(), test::word_corpus(2, 20));
    write_recipe("");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_recipe(const std::string& extra) {
    std::ofstream(recipe()) << "name: \"t\"\n"
                            << "model { width: 32 layers: 1 heads: 2 seq_len: 32 mlp_ratio: 2 }\n"
                            << "data { corpus: SHARDS train: \"" << (dir_ / "train.bin").string()
                            << "\" val: \"" << (dir_ / "val.bin").string() << "\" batch_size: 4 }\n"
                            << "optim { lr: 3e-3 warmup_steps: 2 }\n"
                            << "train { steps: 20 eval_every: 10 eval_steps: 2 "
                               "checkpoint_every: 5 keep_last: 2 micro_batches: 2 }\n"
                            << "log { every: 1 tensorboard: true }\n"
                            << extra;
  }
  std::string recipe() const { return (dir_ / "r.textproto").string(); }
  std::string run(const std::string& name) const { return (dir_ / name).string(); }

  // Training losses by step from a run's metrics.jsonl.
  std::vector<double> losses(const std::string& run_dir) const {
    std::vector<double> out;
    for (const auto& row : read_metrics(run_dir + "/metrics.jsonl"))
      if (row.contains("loss")) out.push_back(row["loss"].get<double>());
    return out;
  }

  fs::path dir_;
};

TEST_F(TrainCli, ResumeContinuesBitForBit) {
  CliResult a = run_cli("train " + recipe() + " --quiet --run-dir " + run("a"));
  ASSERT_EQ(a.code, 0) << a.output;
  CliResult b1 = run_cli("train " + recipe() + " --quiet --stop-after 10 --run-dir " + run("b"));
  ASSERT_EQ(b1.code, 0) << b1.output;
  EXPECT_EQ(losses(run("b")).size(), 10u);
  CliResult b2 = run_cli("train " + recipe() + " --quiet --resume --run-dir " + run("b"));
  ASSERT_EQ(b2.code, 0) << b2.output;
  const std::vector<double> la = losses(run("a")), lb = losses(run("b"));
  ASSERT_EQ(la.size(), 20u);
  EXPECT_EQ(la, lb);  // exact: same bits after the resume
  EXPECT_EQ(read_file(run("a") + "/checkpoints/step_20/model.safetensors"),
            read_file(run("b") + "/checkpoints/step_20/model.safetensors"));
  EXPECT_LT(la.back(), la.front());
  // keep_last 2: only step_15 and step_20 remain.
  EXPECT_FALSE(fs::exists(run("a") + "/checkpoints/step_10"));
  EXPECT_TRUE(fs::exists(run("a") + "/checkpoints/step_15/DONE"));
  EXPECT_TRUE(fs::exists(run("a") + "/plots/loss.png"));
  bool events = false;
  for (const auto& e : fs::directory_iterator(run("a")))
    events |= e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_TRUE(events);
}

TEST_F(TrainCli, CrashDuringCheckpointKeepsThePreviousOne) {
  ASSERT_EQ(run_cli("train " + recipe() + " --quiet --stop-after 5 --run-dir " + run("c")).code, 0);
  // Resume and crash while writing step_10 (after its weights, before DONE).
  CliResult crash = run_cli("train " + recipe() + " --quiet --resume --run-dir " + run("c"),
                            "ATTNLAB_FAULT_INJECT=checkpoint_midway");
  EXPECT_EQ(crash.code, 75) << crash.output;
  EXPECT_FALSE(fs::exists(run("c") + "/checkpoints/step_10"));
  EXPECT_TRUE(fs::exists(run("c") + "/checkpoints/step_5/DONE"));
  CliResult eval = run_cli("eval " + run("c") + " --json");
  EXPECT_EQ(eval.code, 0) << eval.output;
  EXPECT_NE(eval.output.find("\"step\":5"), std::string::npos) << eval.output;
  // A later resume starts from step_5 and ends exactly where an uninterrupted run ends.
  CliResult resumed = run_cli("train " + recipe() + " --resume --run-dir " + run("c"));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("step_5"), std::string::npos) << resumed.output;
  ASSERT_EQ(run_cli("train " + recipe() + " --quiet --run-dir " + run("d")).code, 0);
  EXPECT_EQ(losses(run("c")), losses(run("d")));
}

TEST_F(TrainCli, CorruptNewestCheckpointIsSkippedWithAWarning) {
  ASSERT_EQ(run_cli("train " + recipe() + " --quiet --stop-after 10 --run-dir " + run("e")).code,
            0);
  std::ofstream(run("e") + "/checkpoints/step_10/model.safetensors") << "garbage";
  CliResult r = run_cli("train " + recipe() + " --resume --run-dir " + run("e"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("skipping checkpoint"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("step_10"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
}

TEST_F(TrainCli, SameLossCurveOnOneAndTwoThreads) {
  ASSERT_EQ(run_cli("train " + recipe() + " --quiet --threads 1 --run-dir " + run("t1")).code, 0);
  ASSERT_EQ(run_cli("train " + recipe() + " --quiet --threads 2 --run-dir " + run("t2")).code, 0);
  EXPECT_EQ(losses(run("t1")), losses(run("t2")));
}

// The same, under each OpenBLAS core type and cache-size setting this CPU can run.
TEST(TrainCliBlasCoreTypes, SameLossCurveOnOneAndTwoThreads) {
  test::expect_filter_passes_under_every_core_type("TrainCli.SameLossCurveOnOneAndTwoThreads",
                                                   /*binary_loads_blas=*/false);
}

TEST_F(TrainCli, EvalAndSampleReadTheRun) {
  ASSERT_EQ(run_cli("train " + recipe() + " --quiet --run-dir " + run("s")).code, 0);
  CliResult e = run_cli("eval " + run("s"));
  EXPECT_EQ(e.code, 0) << e.output;
  EXPECT_NE(e.output.find("bits/byte"), std::string::npos) << e.output;
  CliResult a = run_cli("sample " + run("s") + " --prompt ab --tokens 20 --seed 3");
  CliResult b = run_cli("sample " + run("s") + " --prompt ab --tokens 20 --seed 3");
  EXPECT_EQ(a.code, 0) << a.output;
  EXPECT_EQ(a.output, b.output);  // seeded
  EXPECT_GE(a.output.size(), 22u);
}

// Every attention variant trains through the CLI, logs its diagnostics and draws attention maps.
TEST_F(TrainCli, EveryAttentionKindLogsDiagnosticsAndDrawsMaps) {
  for (const char* kind :
       {"SINK", "GATED", "AFFINE_SCALED", "DIFFERENTIAL", "GROUPED_DIFFERENTIAL", "MOH"}) {
    SCOPED_TRACE(kind);
    const std::string dir = run(std::string("k_") + kind);
    CliResult t =
        run_cli("train " + recipe() + " --quiet --set model.heads=4 --set train.steps=6" +
                " --set log.attn_every=3 --set attention.kind=" + kind + " --run-dir " + dir);
    ASSERT_EQ(t.code, 0) << t.output;
    bool train_row = false, val_row = false, aux_row = false;
    for (const auto& row : read_metrics(dir + "/metrics.jsonl")) {
      train_row |= row.contains("attn/first_token_mass") && row.contains("attn/max_activation");
      val_row |= row.contains("val/attn/first_token_mass") && row.contains("val/attn/entropy");
      aux_row |= row.contains("aux_loss") && row["aux_loss"].get<double>() > 0;
    }
    EXPECT_TRUE(train_row && val_row);
    // Only MoH adds an auxiliary loss (its load balance), logged apart from the cross-entropy.
    EXPECT_EQ(aux_row, std::string(kind) == "MOH");
    CliResult m = run_cli("attnmap " + dir + " --layer 0 --text \"ab cd\"");
    EXPECT_EQ(m.code, 0) << m.output;
    EXPECT_TRUE(fs::exists(dir + "/plots/attnmap_l0.png")) << m.output;
  }
  CliResult bad = run_cli("attnmap " + run("k_MOH") + " --layer 5 --text ab");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.output.find("--layer"), std::string::npos) << bad.output;
}

// AEM (losses.aem): its term is logged per selected layer, part of aux_loss but not of the
// cross-entropy; it keeps attention entropy above the unregularised run's; resuming continues bit
// for bit; weight 0 is the unregularised run to the bit.
TEST_F(TrainCli, AemRaisesAttentionEntropyAndLogsItsTerms) {
  const std::string base = " --quiet --set model.layers=2 --set log.attn_every=20";
  ASSERT_EQ(run_cli("train " + recipe() + base + " --run-dir " + run("plain")).code, 0);
  const std::string aem = " --set losses.aem.weight=1 --set losses.aem.layers=1";
  CliResult t = run_cli("train " + recipe() + base + aem + " --run-dir " + run("aem"));
  ASSERT_EQ(t.code, 0) << t.output;
  auto last_entropy = [&](const std::string& name, const std::string& key) {
    double v = -1;
    for (const auto& row : read_metrics(run(name) + "/metrics.jsonl"))
      if (row.contains(key)) v = row[key].get<double>();
    return v;
  };
  bool logged = false;
  for (const auto& row : read_metrics(run("aem") + "/metrics.jsonl")) {
    if (!row.contains("loss")) continue;
    EXPECT_FALSE(row.contains("loss/aem/l0")) << "layer 0 is not selected";
    ASSERT_TRUE(row.contains("loss/aem/l1"));
    const double term = row["loss/aem/l1"].get<double>();
    EXPECT_LT(term, 0);  // minus the mean entropy
    EXPECT_NEAR(row["aux_loss"].get<double>(), term, 1e-6 * std::fabs(term));
    logged = true;
  }
  EXPECT_TRUE(logged);
  const double plain = last_entropy("plain", "attn/entropy/l1");
  const double raised = last_entropy("aem", "attn/entropy/l1");
  ASSERT_GT(plain, 0);
  EXPECT_GT(raised, plain) << "AEM did not raise the entropy of layer 1";
  EXPECT_NE(losses(run("plain")), losses(run("aem")));
  // Weight 0: the plain run to the bit, whatever the other AEM fields say.
  ASSERT_EQ(run_cli("train " + recipe() + base +
                    " --set losses.aem.weight=0 --set losses.aem.heads=1 --run-dir " + run("zero"))
                .code,
            0);
  EXPECT_EQ(losses(run("plain")), losses(run("zero")));
  // Interrupted and resumed: the same curve.
  ASSERT_EQ(
      run_cli("train " + recipe() + base + aem + " --stop-after 7 --run-dir " + run("ra")).code, 0);
  ASSERT_EQ(run_cli("train " + recipe() + base + aem + " --resume --run-dir " + run("ra")).code, 0);
  EXPECT_EQ(losses(run("aem")), losses(run("ra")));
}

TEST_F(TrainCli, AdlLogsItsTermsAndLowersThem) {
  const std::string base = " --quiet --set model.layers=2 --set log.attn_every=10";
  ASSERT_EQ(run_cli("train " + recipe() + base + " --run-dir " + run("plain")).code, 0);
  const std::string adl =
      " --set losses.adl.weight=20 --set losses.adl.layers=1 --set losses.adl.theta=1";
  CliResult t = run_cli("train " + recipe() + base + adl + " --run-dir " + run("adl"));
  ASSERT_EQ(t.code, 0) << t.output;
  std::vector<double> terms;
  for (const auto& row : read_metrics(run("adl") + "/metrics.jsonl")) {
    if (!row.contains("loss")) continue;
    EXPECT_FALSE(row.contains("loss/adl/l0")) << "layer 0 is not selected";
    ASSERT_TRUE(row.contains("loss/adl/l1"));
    const double term = row["loss/adl/l1"].get<double>();
    EXPECT_GE(term, 0);  // weight x a mean cosine of non-negative vectors
    EXPECT_LE(term, 20);
    EXPECT_NEAR(row["aux_loss"].get<double>(), term, 1e-6 * std::fabs(term));
    terms.push_back(term);
  }
  ASSERT_GE(terms.size(), 10u);
  EXPECT_LT(terms.back(), 0.6 * terms.front()) << "ADL did not diversify layer 1's attention";
  // Every run logs ADL's statistic (theta 2) as a diagnostic, the baseline too (at this size
  // and length few entries pass theta 2 / N: adl_lm.textproto compares it at brown_tiny scale).
  for (const std::string name : {"plain", "adl"}) {
    double v = -1;
    for (const auto& row : read_metrics(run(name) + "/metrics.jsonl"))
      if (row.contains("attn/adl_cosine/l1")) v = row["attn/adl_cosine/l1"].get<double>();
    EXPECT_GE(v, 0) << name << " logged no attn/adl_cosine/l1";
    EXPECT_LE(v, 1) << name;
  }
  EXPECT_NE(losses(run("plain")), losses(run("adl")));
  // Weight 0: the plain run to the bit, whatever the other ADL fields say.
  ASSERT_EQ(
      run_cli("train " + recipe() + base +
              " --set losses.adl.weight=0 --set losses.adl.pairwise=true --run-dir " + run("zero"))
          .code,
      0);
  EXPECT_EQ(losses(run("plain")), losses(run("zero")));
  ASSERT_EQ(
      run_cli("train " + recipe() + base + adl + " --stop-after 7 --run-dir " + run("ra")).code, 0);
  ASSERT_EQ(run_cli("train " + recipe() + base + adl + " --resume --run-dir " + run("ra")).code, 0);
  EXPECT_EQ(losses(run("adl")), losses(run("ra")));
}

// attention.tap acts: other losses than the plain run, finite, resumed bit for bit.
TEST_F(TrainCli, TokenAwarePoolingTrainsAndResumes) {
  const std::string base = " --quiet --set model.layers=2";
  ASSERT_EQ(run_cli("train " + recipe() + base + " --run-dir " + run("plain")).code, 0);
  const std::string tap = " --set attention.tap=true";
  CliResult t = run_cli("train " + recipe() + base + tap + " --run-dir " + run("tap"));
  ASSERT_EQ(t.code, 0) << t.output;
  const std::vector<double> curve = losses(run("tap"));
  ASSERT_FALSE(curve.empty());
  for (double l : curve) EXPECT_TRUE(std::isfinite(l));
  EXPECT_LT(curve.back(), curve.front());
  EXPECT_NE(losses(run("plain")), curve);
  ASSERT_EQ(
      run_cli("train " + recipe() + base + tap + " --stop-after 7 --run-dir " + run("rt")).code, 0);
  ASSERT_EQ(run_cli("train " + recipe() + base + tap + " --resume --run-dir " + run("rt")).code, 0);
  EXPECT_EQ(curve, losses(run("rt")));
}

// train.init_from: a new run from another run's weights. With a learning rate too small to move
// an f32 weight, its evaluation is the source's final one, bit for bit; mismatches name what
// differs and exit 2.
TEST_F(TrainCli, InitFromStartsANewRunFromAnotherRunsWeights) {
  ASSERT_EQ(run_cli("train " + recipe() + " --quiet --run-dir " + run("base")).code, 0);
  auto last_val = [&](const std::string& name) {
    double v = std::nan("");
    for (const auto& row : read_metrics(run(name) + "/metrics.jsonl"))
      if (row.contains("val_loss")) v = row["val_loss"].get<double>();
    return v;
  };
  const std::string from = " --set train.init_from=" + run("base");
  const std::string still = " --set optim.lr=1e-30 --set optim.warmup_steps=0 --set train.steps=1";
  CliResult t =
      run_cli("train " + recipe() + " --quiet" + from + still + " --run-dir " + run("ft"));
  ASSERT_EQ(t.code, 0) << t.output;
  ASSERT_TRUE(std::isfinite(last_val("base")));
  EXPECT_EQ(last_val("ft"), last_val("base"));
  // A checkpoint directory works too; a fresh start from random weights does not match.
  const std::string step = run("base") + "/checkpoints/step_20";
  ASSERT_EQ(run_cli("train " + recipe() + " --quiet --set train.init_from=" + step + still +
                    " --run-dir " + run("ft2"))
                .code,
            0);
  EXPECT_EQ(last_val("ft2"), last_val("base"));
  ASSERT_EQ(run_cli("train " + recipe() + " --quiet" + still + " --run-dir " + run("scratch")).code,
            0);
  EXPECT_NE(last_val("scratch"), last_val("base"));

  struct Bad {
    std::string set, phrase;
  };
  for (const Bad& b :
       {Bad{" --set model.layers=2", "has no parameter 'blocks.1."},
        Bad{" --set attention.kind=GATED", "attention.kind SOFTMAX, this recipe has GATED"},
        Bad{" --set train.init_from=" + run("nowhere"), "not a directory"}}) {
    const CliResult r =
        run_cli("train " + recipe() + " --quiet" + from + b.set + " --run-dir " + run("bad"));
    EXPECT_EQ(r.code, 2) << b.set << "\n" << r.output;
    EXPECT_NE(r.output.find(b.phrase), std::string::npos) << b.set << "\n" << r.output;
  }
}

// train.freeze: the frozen tensors of the fine-tuned checkpoint are the base run's bits, the others
// moved; a pattern that names nothing, or one freezing everything, is refused.
TEST_F(TrainCli, FreezeKeepsMatchingParametersAtTheirInitialValues) {
  ASSERT_EQ(run_cli("train " + recipe() +
                    " --quiet --set train.steps=2 --set "
                    "train.eval_every=0 --run-dir " +
                    run("base"))
                .code,
            0);
  const std::string ft = "train " + recipe() +
                         " --quiet --set train.steps=3 --set train.init_from=" + run("base") +
                         " --set optim.weight_decay=0.5";
  CliResult r = run_cli(ft + " --set train.freeze=blocks.*.attn.*,wte.weight,norm_f.* --run-dir " +
                        run("ft"));
  ASSERT_EQ(r.code, 0) << r.output;
  const SafetensorsFile base =
      read_safetensors(run("base") + "/checkpoints/step_2/model.safetensors");
  const SafetensorsFile tuned =
      read_safetensors(run("ft") + "/checkpoints/step_3/model.safetensors");
  int frozen = 0, moved = 0;
  for (const auto& [name, t] : base.tensors) {
    const bool same = t.to_vector<float>() == tuned.get(name).to_vector<float>();
    if (name.find(".attn.") != std::string::npos || name == "wte.weight" ||
        name.starts_with("norm_f.")) {
      EXPECT_TRUE(same) << name << " is frozen";
      ++frozen;
    } else if (name.ends_with(".weight")) {
      EXPECT_FALSE(same) << name << " trains";
      ++moved;
    }
  }
  EXPECT_GE(frozen, 3);
  EXPECT_GE(moved, 2);
  for (const std::string& bad : {std::string("blocks.*.mpl.*"), std::string("*")}) {
    CliResult b = run_cli(ft + " --set train.freeze=" + bad + " --run-dir " + run("bad"));
    EXPECT_EQ(b.code, 2) << bad << "\n" << b.output;
    EXPECT_NE(b.output.find("train.freeze"), std::string::npos) << b.output;
    EXPECT_NE(b.output.find(bad == "*" ? "nothing would train" : "matches no parameter"),
              std::string::npos)
        << b.output;
  }
}

// The affine moving average is a buffer in the checkpoint: resuming continues bit for bit.
TEST_F(TrainCli, ResumeRestoresAttentionBuffers) {
  const std::string kind = " --set attention.kind=AFFINE_SCALED";
  ASSERT_EQ(run_cli("train " + recipe() + kind + " --quiet --run-dir " + run("fa")).code, 0);
  ASSERT_EQ(
      run_cli("train " + recipe() + kind + " --quiet --stop-after 10 --run-dir " + run("fb")).code,
      0);
  ASSERT_EQ(run_cli("train " + recipe() + kind + " --quiet --resume --run-dir " + run("fb")).code,
            0);
  EXPECT_EQ(losses(run("fa")), losses(run("fb")));
}

// Bad inputs: a clear message naming the culprit, exit 2 (1 for I/O), nothing overwritten.
TEST_F(TrainCli, RefusesToOverwriteARunWithoutResume) {
  ASSERT_EQ(run_cli("train " + recipe() + " --quiet --stop-after 5 --run-dir " + run("o")).code, 0);
  const std::string before = read_file(run("o") + "/metrics.jsonl");
  CliResult r = run_cli("train " + recipe() + " --quiet --run-dir " + run("o"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("already holds a run"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(run("o") + "/metrics.jsonl"), before);
}

TEST_F(TrainCli, MissingShard) {
  fs::remove(dir_ / "val.bin");
  CliResult r = run_cli("train " + recipe() + " --quiet --run-dir " + run("m"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("val.bin"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(run("m")));  // checked before the run directory is created
}

TEST_F(TrainCli, CorruptShard) {
  std::string bytes = read_file((dir_ / "train.bin").string());
  std::ofstream((dir_ / "train.bin").string()) << bytes.substr(0, bytes.size() / 2);
  CliResult r = run_cli("train " + recipe() + " --quiet --run-dir " + run("m"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("train.bin"), std::string::npos) << r.output;
}

TEST_F(TrainCli, VocabularyMismatch) {
  CliResult r =
      run_cli("train " + recipe() + " --quiet --set model.vocab_size=300 --run-dir " + run("m"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("vocab"), std::string::npos) << r.output;
}

TEST_F(TrainCli, RunDirIsAFile) {
  std::ofstream(run("file")) << "x";
  CliResult r = run_cli("train " + recipe() + " --quiet --run-dir " + run("file"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("not a directory"), std::string::npos) << r.output;
}

TEST_F(TrainCli, BadSet) {
  CliResult r = run_cli("train " + recipe() + " --set optim.nope=1 --run-dir " + run("m"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("optim.nope"), std::string::npos) << r.output;
}

TEST_F(TrainCli, BadFlagsExitTwoSayingWhatIsWrong) {
  ASSERT_EQ(
      run_cli("train " + recipe() + " --quiet --set train.steps=2 --run-dir " + run("f")).code, 0);
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"frobnicate", "unknown command 'frobnicate' (commands: recipe,"},
      {"sample " + run("f") + " --tokens 99999999999999999999", "not in range 1 to 1000000"},
      {"sample " + run("f") + " --tokens 0", "not in range 1 to 1000000"},
      {"sample " + run("f") + " --temperature -1", "must be a number >= 0, got '-1'"},
      {"attnmap " + run("f") + " --layer 0 --head -1 --text ab", "must be a number >= 0"},
      {"attnmap " + run("f") + " --layer 0 --head 2 --text ab", "2 is not a head of layer 0"},
  };
  for (const Case& c : cases) {
    const CliResult r = run_cli(c.args);
    EXPECT_EQ(r.code, 2) << c.args << ": " << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << ": " << r.output;
  }
}

TEST_F(TrainCli, ResumeWithAChangedRecipeIsRefused) {
  ASSERT_EQ(run_cli("train " + recipe() + " --quiet --stop-after 5 --run-dir " + run("x")).code, 0);
  CliResult r =
      run_cli("train " + recipe() + " --quiet --resume --set optim.lr=1e-2 --run-dir " + run("x"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("lr"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace attn
