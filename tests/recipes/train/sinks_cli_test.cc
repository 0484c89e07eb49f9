// The sink testbed end to end through the `attnlab` binary: Bigram-Backcopy trains, reports its
// distance to the Bayes optimum and the extreme-token diagnostics, resumes bit for bit and
// samples its own symbols; data.bos on a byte corpus trains, counts no bytes for BOS, and a
// checkpoint trained with BOS refuses to run without it; bad combinations exit 2 naming fields.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "recipes/data/token_shard.h"
#include "recipes/run/metrics_log.h"
#include "recipes/train/data_source.h"
#include "tests/recipes/support/word_corpus.h"
#include "tests/support/cli.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

namespace fs = std::filesystem;
using test::CliResult;

CliResult run_cli(const std::string& args) {
  return test::run_command(ATTNLAB_BINARY, args);
}

class SinksCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir("sinks");
    write_token_shard((dir_ / "train.bin").string(), test::word_corpus(1, 60));
    write_token_shard((dir_ / "val.bin").string(), test::word_corpus(2, 10));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) const {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  // Bigram-Backcopy with 12 symbols: 1 layer, 16 steps.
  std::string bb_recipe(const std::string& extra = "") const {
    return write("bb.textproto",
                 "name: \"bb\"\n"
                 "model { vocab_size: 13 width: 32 layers: 1 heads: 2 seq_len: 24 mlp_ratio: 2 "
                 "positional: ROPE }\n"
                 "data { corpus: BIGRAM_BACKCOPY tokenizer: SYMBOLS bos: true batch_size: 4 "
                 "bigram_backcopy { vocab: 12 triggers: 2 val_sequences: 8 } }\n"
                 "optim { lr: 3e-3 warmup_steps: 2 }\n"
                 "train { steps: 16 eval_every: 8 eval_steps: 2 checkpoint_every: 8 }\n"
                 "log { every: 1 }\n" +
                     extra);
  }
  // Byte-level shards with BOS (257 symbols), unpacked windows.
  std::string bos_recipe(const std::string& extra = "") const {
    return write("bos.textproto",
                 "name: \"bos\"\n"
                 "model { vocab_size: 257 width: 32 layers: 1 heads: 2 "
                 "seq_len: 32 mlp_ratio: 2 }\n"
                 "data { corpus: SHARDS train: \"" +
                     (dir_ / "train.bin").string() + "\" val: \"" + (dir_ / "val.bin").string() +
                     "\" batch_size: 4 bos: true pack_documents: false }\n"
                     "optim { lr: 3e-3 warmup_steps: 2 }\n"
                     "train { steps: 6 eval_every: 6 eval_steps: 2 }\n" +
                     extra);
  }
  std::string run(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<double> values(const std::string& name, const std::string& key) const {
    std::vector<double> out;
    for (const auto& row : read_metrics(run(name) + "/metrics.jsonl"))
      if (row.contains(key)) out.push_back(row[key].get<double>());
    return out;
  }

  fs::path dir_;
};

TEST_F(SinksCli, BigramBackcopyTrainsReportsTheOptimumAndResumes) {
  const std::string recipe = bb_recipe();
  const CliResult a = run_cli("train " + recipe + " --quiet --run-dir " + run("a"));
  ASSERT_EQ(a.code, 0) << a.output;
  const std::vector<double> loss = values("a", "val_loss"),
                            optimal = values("a", "val_loss_optimal"),
                            gap = values("a", "val_loss_gap");
  ASSERT_EQ(loss.size(), 2u);
  ASSERT_EQ(optimal.size(), 2u);
  // The same validation sequences each time, so the same optimum; the gap is the difference.
  EXPECT_EQ(optimal[0], optimal[1]);
  EXPECT_GT(optimal[0], 0.5);
  EXPECT_LT(optimal[0], std::log(12.0));
  for (int i = 0; i < 2; ++i) EXPECT_DOUBLE_EQ(gap[i], loss[i] - optimal[i]);
  for (const char* key :
       {"val/attn/dormant_share", "val/attn/domain_first_token_mass", "val/attn/value_drain",
        "val/attn/value_drain/l0h1", "val/attn/residual_peak", "val/attn/residual_peak/l0"}) {
    const std::vector<double> v = values("a", key);
    ASSERT_EQ(v.size(), 2u) << key;
    for (double x : v) EXPECT_TRUE(std::isfinite(x) && x >= 0) << key << " " << x;
  }
  for (double x : values("a", "val/attn/dormant_share")) EXPECT_LE(x, 1.0);

  ASSERT_EQ(run_cli("train " + recipe + " --quiet --stop-after 8 --run-dir " + run("b")).code, 0);
  const CliResult b = run_cli("train " + recipe + " --quiet --resume --run-dir " + run("b"));
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_EQ(values("a", "loss"), values("b", "loss"));  // the stream's cursor resumes exactly

  const CliResult s = run_cli("sample " + run("a") + " --tokens 30 --seed 3");
  ASSERT_EQ(s.code, 0) << s.output;
  EXPECT_TRUE(std::regex_search(s.output, std::regex("[!-,]{30}"))) << s.output;
  // A prompt outside the task's symbols is refused by name.
  const CliResult bad = run_cli("sample " + run("a") + " --tokens 3 --prompt xyz");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("not one of the 12 symbols"), std::string::npos) << bad.output;
}

TEST_F(SinksCli, BosOnAByteCorpusTrainsSamplesAndIsRecordedInTheCheckpoint) {
  const std::string recipe = bos_recipe();
  const CliResult a = run_cli("train " + recipe + " --quiet --run-dir " + run("a"));
  ASSERT_EQ(a.code, 0) << a.output;
  ASSERT_EQ(values("a", "val_bpb").size(), 1u);
  const CliResult s = run_cli("sample " + run("a") + " --tokens 10 --prompt ab");
  ASSERT_EQ(s.code, 0) << s.output;
  const CliResult m = run_cli("attnmap " + run("a") + " --layer 0 --text abcabc --out " +
                              (dir_ / "map.png").string());
  ASSERT_EQ(m.code, 0) << m.output;
  EXPECT_NE(m.output.find("first-column mass"), std::string::npos) << m.output;
  EXPECT_NE(m.output.find("(first token BOS)"), std::string::npos) << m.output;
  EXPECT_NE(m.output.find("x 7 tokens"), std::string::npos) << "BOS + 6 bytes: " << m.output;

  // The run's recipe edited to drop BOS (and its symbol): the checkpoint says it had one.
  const std::string saved = run("a") + "/recipe.textproto";
  std::string text;
  {
    std::ifstream in(saved);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  text = std::regex_replace(text, std::regex("bos: true"), "bos: false");
  text = std::regex_replace(text, std::regex("vocab_size: 257"), "vocab_size: 256");
  std::ofstream(saved) << text;
  const CliResult refused = run_cli("sample " + run("a") + " --tokens 5");
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_NE(refused.output.find("was trained with data.bos: true"), std::string::npos)
      << refused.output;
}

TEST_F(SinksCli, BosCountsNoBytesAndShiftsTheShardVocabulary) {
  config::Recipe r = config::load_recipe(bos_recipe());
  const DataSource d = open_data_source(r);
  EXPECT_EQ(d.bos, 256);
  ASSERT_EQ(d.token_bytes.size(), 257u);
  EXPECT_EQ(d.token_bytes[256], 0.0) << "bits per byte do not count BOS";
  EXPECT_EQ(d.token_bytes[65], 1.0);
}

TEST_F(SinksCli, BadCombinationsExitTwoNamingTheField) {
  struct Case {
    std::string recipe, set, field;
  };
  const std::string bb = bb_recipe(), bos = bos_recipe();
  const std::vector<Case> cases = {
      {bb, "data.tokenizer=BYTES", "data.tokenizer"},
      {bb, "data.bos=false", "data.bos"},
      {bb, "data.bigram_backcopy.triggers=11", "data.bigram_backcopy.triggers"},
      {bb, "model.vocab_size=12", "model.vocab_size"},
      {bos, "model.vocab_size=256", "model.vocab_size"},
      {bos, "data.tokenizer=SYMBOLS", "data.tokenizer"},
      {bos, "model.seq_len=1", "data.bos"},
      {write("syn.textproto",
             "name: \"s\" model { vocab_size: 257 width: 32 layers: 1 heads: 2 seq_len: 128 } "
             "data { corpus: SYNTHETIC bos: true synthetic { length: 128 } }"),
       "train.steps=1", "data.bos"},
  };
  for (const Case& c : cases) {
    const CliResult r =
        run_cli("train " + c.recipe + " --quiet --set " + c.set + " --run-dir " + run("bad"));
    EXPECT_EQ(r.code, 2) << c.field << ": " << r.output;
    EXPECT_NE(r.output.find(c.field), std::string::npos) << c.field << ": " << r.output;
    EXPECT_FALSE(fs::exists(run("bad"))) << "refused before a run directory exists";
  }
}

}  // namespace
}  // namespace attn
