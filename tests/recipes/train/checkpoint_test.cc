// Checkpoints: round trip of weights and optimizer state, validation before anything is
// modified, incomplete and corrupt checkpoints skipped, keep_last pruning.
#include "recipes/run/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "framework/core/error.h"
#include "framework/rng/philox.h"
#include "optim/adamw.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

// A two-parameter model with an AdamW that has taken `steps` steps on fixed gradients.
// Parameter values by name (the flat buffer's padding is not part of a checkpoint).
std::vector<std::vector<float>> weights(const ParamStore& store) {
  std::vector<std::vector<float>> out;
  for (const ParamInfo& p : store.params()) out.push_back(p.tensor.to_vector<float>());
  return out;
}

struct Model {
  explicit Model(int64_t cols = 3) {
    store.declare("w", {4, cols}, ParamInit::normal(0.5));
    store.declare("b", {5}, ParamInit::zeros(), false);
    store.finalize();
    store.initialize(7);
    opt = std::make_unique<AdamW>(store, AdamWOptions{.lr = 0.1});
  }
  void train(int steps) {
    for (int s = 0; s < steps; ++s) {
      Tensor g = store.flat_grads();
      fill_normal(g, 3, s, 0.0, 1.0);
      opt->step();
    }
  }
  ParamStore store;
  std::unique_ptr<AdamW> opt;
};

CheckpointState state_at(int64_t step) {
  CheckpointState s;
  s.set_step(step);
  s.set_seed(1);
  s.set_recipe_hash("abc");
  s.mutable_data()->set_cursor(static_cast<uint64_t>(step) * 10);
  return s;
}

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::fresh_temp_dir("ckpt");
    dir_ = (root_ / "checkpoints").string();  // created by the first save
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
  std::string dir_;
};

TEST_F(Checkpoint, RoundTripsWeightsOptimizerAndState) {
  Model a;
  a.train(3);
  const std::string path = save_checkpoint(dir_, a.store, a.opt->state(), state_at(3), 0);
  EXPECT_TRUE(fs::exists(path + "/DONE"));
  Model b;
  const CheckpointState s = load_checkpoint(path, b.store, *b.opt);
  EXPECT_EQ(s.step(), 3);
  EXPECT_EQ(s.data().cursor(), 30u);
  EXPECT_EQ(weights(b.store), weights(a.store));
  // Same optimizer state => the next steps agree bit for bit.
  a.train(2);
  b.train(2);
  EXPECT_EQ(weights(b.store), weights(a.store));
}

TEST_F(Checkpoint, MismatchedModelIsRejectedBeforeAnythingChanges) {
  Model a;
  a.train(1);
  const std::string path = save_checkpoint(dir_, a.store, a.opt->state(), state_at(1), 0);
  Model other(/*cols=*/2);
  const std::vector<float> before = other.store.flat_params().to_vector<float>();
  try {
    load_checkpoint(path, other.store, *other.opt);
    FAIL() << "loaded a checkpoint of another shape";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'w'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(other.store.flat_params().to_vector<float>(), before);
}

TEST_F(Checkpoint, ResumeSkipsIncompleteAndCorruptCheckpoints) {
  Model a;
  save_checkpoint(dir_, a.store, a.opt->state(), state_at(2), 0);
  save_checkpoint(dir_, a.store, a.opt->state(), state_at(4), 0);
  save_checkpoint(dir_, a.store, a.opt->state(), state_at(6), 0);
  fs::remove(dir_ + "/step_6/DONE");                                      // incomplete
  std::ofstream(dir_ + "/step_4/optimizer.safetensors") << "not a file";  // corrupt
  std::vector<std::string> warnings;
  std::string loaded;
  Model b;
  auto s = resume_latest(
      dir_, b.store, *b.opt, [&](const std::string& w) { warnings.push_back(w); }, &loaded);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->step(), 2);
  EXPECT_EQ(loaded, dir_ + "/step_2");
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("step_6"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("step_4"), std::string::npos) << warnings[1];
  EXPECT_EQ(latest_complete_checkpoint(dir_), dir_ + "/step_4");
}

TEST_F(Checkpoint, KeepLastPrunesOldCheckpointsAndStaleTemporaries) {
  Model a;
  fs::create_directories(dir_ + "/.step_9.tmp.12345");  // left by a crashed writer
  for (int step = 1; step <= 4; ++step)
    save_checkpoint(dir_, a.store, a.opt->state(), state_at(step), 2);
  EXPECT_FALSE(fs::exists(dir_ + "/step_1"));
  EXPECT_FALSE(fs::exists(dir_ + "/step_2"));
  EXPECT_TRUE(fs::exists(dir_ + "/step_3/DONE"));
  EXPECT_TRUE(fs::exists(dir_ + "/step_4/DONE"));
  EXPECT_FALSE(fs::exists(dir_ + "/.step_9.tmp.12345"));
}

TEST_F(Checkpoint, NoCheckpointMeansNothingToResume) {
  Model a;
  int warnings = 0;
  EXPECT_FALSE(resume_latest(dir_, a.store, *a.opt, [&](const std::string&) { ++warnings; }));
  EXPECT_EQ(warnings, 0);
  EXPECT_EQ(latest_complete_checkpoint(dir_), "");
}

}  // namespace
}  // namespace attn
