// Ablation files: defaults, every validation rule with its file:line, and arm overrides resolved
// up front (a typo names the arm and the line of its `set`).
#include "recipes/ablate/ablation.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "framework/core/error.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

class AblationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir("ablation");
    fs::create_directories(dir_ / "recipes");
    std::ofstream(dir_ / "recipes/base.textproto")
        << "name: \"base\"\n"
        << "model { width: 32 layers: 1 heads: 2 seq_len: 32 mlp_ratio: 2 }\n"
        << "data { corpus: SHARDS train: \"train.bin\" val: \"val.bin\" batch_size: 4 }\n"
        << "optim { warmup_steps: 2 }\n"
        << "train { steps: 20 }\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `text` as <dir>/grid.textproto and returns its path.
  std::string write(const std::string& text) {
    const std::string path = (dir_ / "grid.textproto").string();
    std::ofstream(path) << text;
    return path;
  }

  // The attn::Error of planning `text` ("" when it loads).
  std::string error_of(const std::string& text, const PlanOptions& options = {}) {
    try {
      plan_ablation(write(text), options);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kConfig) << e.what();
      return e.what();
    }
    return "";
  }

  static std::string grid(const std::string& extra = "") {
    return "name: \"g\"\n"
           "base: \"recipes/base.textproto\"\n"
           "arm { name: \"a\" }\n"
           "arm { name: \"b\" set: \"attention.kind=SINK\" }\n"
           "seeds: [1, 2]\n" +
           extra;
  }

  fs::path dir_;
};

TEST_F(AblationTest, DefaultsAreFilledIn) {
  const Ablation a = load_ablation(write(grid()));
  EXPECT_EQ(a.processes(), 1);
  EXPECT_DOUBLE_EQ(a.spike_ratio(), 1.05);
  EXPECT_EQ(a.out_dir(), "runs/ablations/g");
  ASSERT_EQ(a.metric_size(), 2);
  EXPECT_EQ(a.metric(0).key(), "val_loss");
  EXPECT_EQ(a.metric(0).label(), "val_loss");
  EXPECT_EQ(a.metric(0).reduce(), AblationMetric::LAST);
  EXPECT_EQ(a.metric(1).key(), "val_bpb");
}

TEST_F(AblationTest, MetricLabelsDefaultFromKeyAndReduce) {
  const Ablation a =
      load_ablation(write(grid("metric { key: \"loss\" reduce: SPIKES }\n"
                               "metric { key: \"attn/entropy\" }\n"
                               "metric { label: \"mean loss\" key: \"loss\" reduce: MEAN }\n")));
  ASSERT_EQ(a.metric_size(), 3);
  EXPECT_EQ(a.metric(0).label(), "loss_spikes");
  EXPECT_EQ(a.metric(1).label(), "attn/entropy");
  EXPECT_EQ(a.metric(2).label(), "mean loss");
  EXPECT_EQ(label_file_stem("attn/first_token_mass/l0"), "attn_first_token_mass_l0");
  EXPECT_EQ(label_file_stem("mean loss"), "mean_loss");
}

TEST_F(AblationTest, PlanResolvesEveryRunInOrder) {
  const AblationPlan plan = plan_ablation(write(grid()), {{"train.steps=7"}, "out"});
  ASSERT_EQ(plan.runs.size(), 4u);
  EXPECT_EQ(plan.base, (dir_ / "recipes/base.textproto").string());
  EXPECT_EQ(plan.out_dir, "out");
  EXPECT_EQ(plan.runs[0].arm, "a");
  EXPECT_EQ(plan.runs[1].seed, 2);
  EXPECT_EQ(plan.runs[2].arm, "b");
  EXPECT_EQ(plan.runs[3].run_dir, "out/b/seed2");
  EXPECT_EQ(plan.runs[3].recipe.train().seed(), 2u);
  EXPECT_EQ(plan.runs[3].recipe.train().steps(), 7);
  EXPECT_EQ(plan.runs[3].recipe.attention().kind(), attnlab::config::Attention::SINK);
  EXPECT_EQ(plan.runs[0].recipe.attention().kind(), attnlab::config::Attention::SOFTMAX);
  EXPECT_EQ(plan.runs[3].overrides.back(), "train.seed=2");
  EXPECT_EQ(runs_of_arm(plan, "b").size(), 2u);
}

TEST_F(AblationTest, ArmOverridesWinOverCommonAndCommandLineOnes) {
  const AblationPlan plan = plan_ablation(
      write("name: \"g\" base: \"recipes/base.textproto\" set: \"optim.lr=1e-3\"\n"
            "arm { name: \"a\" } arm { name: \"b\" set: \"optim.lr=5e-3\" } seeds: 1\n"),
      {{"optim.lr=2e-3"}, ""});
  EXPECT_DOUBLE_EQ(plan.runs[0].recipe.optim().lr(), 2e-3);
  EXPECT_DOUBLE_EQ(plan.runs[1].recipe.optim().lr(), 5e-3);
}

TEST_F(AblationTest, UnknownFieldNamesFileLineAndTheNearestName) {
  const std::string e = error_of(grid("seds: 3\n"));
  EXPECT_NE(e.find("grid.textproto:6"), std::string::npos) << e;
  EXPECT_NE(e.find("\"seds\""), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean \"seeds\""), std::string::npos) << e;
}

TEST_F(AblationTest, BadReduceNamesItsLineAndTheChoices) {
  const std::string e = error_of(grid("metric {\n  key: \"loss\"\n  reduce: SPIKE\n}\n"));
  EXPECT_NE(e.find("grid.textproto:8"), std::string::npos) << e;
  EXPECT_NE(e.find("SPIKES"), std::string::npos) << e;
}

TEST_F(AblationTest, DuplicateArm) {
  const std::string e = error_of(grid("arm { name: \"a\" }\n"));
  EXPECT_NE(e.find("grid.textproto:6: arm[2].name: duplicate arm name \"a\" (arm[0]"),
            std::string::npos)
      << e;
}

TEST_F(AblationTest, ArmOverrideTypoNamesTheArmAndItsLine) {
  const std::string e = error_of(
      "name: \"g\"\nbase: \"recipes/base.textproto\"\narm { name: \"a\" }\n"
      "arm {\n  name: \"sink\"\n  set: \"attention.knd=SINK\"\n}\nseeds: 1\n");
  EXPECT_NE(e.find("grid.textproto:6: arm \"sink\": --set attention.knd=SINK"), std::string::npos)
      << e;
  EXPECT_NE(e.find("did you mean 'kind'"), std::string::npos) << e;
}

TEST_F(AblationTest, InvalidCombinationNamesTheArm) {
  // heads 3 does not divide width 32: valid as a --set, rejected by recipe validation.
  const std::string e = error_of(grid("arm { name: \"c\" set: \"model.heads=3\" }\n"));
  EXPECT_NE(e.find("arm \"c\""), std::string::npos) << e;
  EXPECT_NE(e.find("model.heads"), std::string::npos) << e;
}

TEST_F(AblationTest, BadCommandLineSetNamesTheArm) {
  const std::string e = error_of(grid(), {{"optim.nope=1"}, ""});
  EXPECT_NE(e.find("arm \"a\": --set optim.nope=1"), std::string::npos) << e;
}

TEST_F(AblationTest, ValidationRules) {
  struct Case {
    std::string text, want;
  };
  const std::string base = "base: \"recipes/base.textproto\"\n";
  const std::vector<Case> cases = {
      {base + "arm { name: \"a\" } seeds: 1\n", "name: \"\" must be non-empty"},
      {"name: \"g\" arm { name: \"a\" } seeds: 1\n", "base: the base recipe is required"},
      {"name: \"g\" base: \"nope.textproto\" arm { name: \"a\" } seeds: 1\n",
       "grid.textproto:1: base: no recipe file at"},
      {"name: \"g\"\n" + base + "seeds: 1\n", "arm: at least one arm is required"},
      {"name: \"g\"\n" + base + "arm { name: \"a b\" } seeds: 1\n", "arm[0].name: \"a b\""},
      {"name: \"g\"\n" + base + "arm { name: \"plots\" } seeds: 1\n", "reserved"},
      {"name: \"g\"\n" + base + "arm { name: \"a\" }\n", "seeds: at least one seed is required"},
      {"name: \"g\"\n" + base + "arm { name: \"a\" }\nseeds: [1, 2, 1]\n",
       "grid.textproto:4: seeds[2]: duplicate seed 1 (seeds[0]"},
      {"name: \"g\"\n" + base + "arm { name: \"a\" }\nseeds: -1\n", "seeds[0]: -1 is negative"},
      {"name: \"g\"\n" + base + "arm { name: \"a\" } seeds: 1\nprocesses: -2\n",
       "grid.textproto:4: processes: -2 is negative"},
      {"name: \"g\"\n" + base + "arm { name: \"a\" } seeds: 1\nspike_ratio: 0.5\n",
       "spike_ratio: 0.5 must be"},
      {"name: \"g\"\n" + base + "arm { name: \"a\" } seeds: 1\nmetric { reduce: MAX }\n",
       "grid.textproto:4: metric[0].key: is empty"},
      {"name: \"g\"\n" + base + "arm { name: \"a\" } seeds: 1\nmetric { key: \"loss\" }\n",
       "would overwrite plots/loss.png"},
      {"name: \"g\"\n" + base +
           "arm { name: \"a\" } seeds: 1\nmetric { key: \"a/b\" }\nmetric { key: \"a_b\" }\n",
       "metric[1].label: \"a_b\" is taken by metric[0]"},
      {"name: \"g\"\n" + base + "arm { name: \"a\" set: \"train.seed=3\" } seeds: 1\n",
       "grid.textproto:3: arm[0].set[0]: train.seed comes from `seeds`"},
      {"name: \"g\"\n" + base + "set: \"optim.lr\"\narm { name: \"a\" } seeds: 1\n",
       "grid.textproto:3: set[0]: \"optim.lr\" is not path=value"},
      {"name: \"g\"\nname: \"h\"\n" + base + "arm { name: \"a\" } seeds: 1\n", "grid.textproto:2"},
  };
  for (const Case& c : cases) {
    const std::string e = error_of(c.text);
    EXPECT_NE(e.find(c.want), std::string::npos) << "text:\n" << c.text << "error: " << e;
  }
}

TEST_F(AblationTest, MissingFile) {
  try {
    load_ablation((dir_ / "nope.textproto").string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig);
    EXPECT_NE(std::string(e.what()).find("nope.textproto: cannot open ablation"), std::string::npos)
        << e.what();
  }
}

TEST_F(AblationTest, ShippedMicroGridLoads) {
  const char* src = std::getenv("ATTNLAB_SOURCE_DIR");
  ASSERT_NE(src, nullptr) << "CTest sets ATTNLAB_SOURCE_DIR";
  const Ablation a = load_ablation(std::string(src) + "/recipes/ablations/micro.textproto");
  EXPECT_EQ(a.arm_size(), 2);
  EXPECT_EQ(a.seeds_size(), 2);
  // Every arm resolves against the real base recipe.
  const AblationPlan plan =
      plan_ablation(std::string(src) + "/recipes/ablations/micro.textproto", {{}, "unused"});
  EXPECT_EQ(plan.runs.size(), 4u);
}

}  // namespace
}  // namespace attn
