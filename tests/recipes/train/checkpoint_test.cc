// Checkpoints: round trip of weights and optimizer state, validation before anything is
// modified, incomplete and corrupt checkpoints skipped (but never all of them silently),
// implausible states and non-finite weights refused, keep_last pruning, no temporaries left.
#include "recipes/run/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
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
  s.set_recipe_hash("0123456789abcdef");
  s.set_world_size(1);
  s.set_optimizer("adamw");
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

// Restarting at step 0 past checkpoints that exist would throw the run away: refused, naming each.
TEST_F(Checkpoint, ResumeRefusesWhenEveryCompleteCheckpointIsCorrupt) {
  Model a;
  save_checkpoint(dir_, a.store, a.opt->state(), state_at(2), 0);
  save_checkpoint(dir_, a.store, a.opt->state(), state_at(4), 0);
  std::ofstream(dir_ + "/step_2/model.safetensors") << "garbage";
  std::ofstream(dir_ + "/step_4/state.pb", std::ios::trunc).close();
  Model b;
  try {
    resume_latest(dir_, b.store, *b.opt, nullptr);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    const std::string what = e.what();
    EXPECT_NE(what.find("none of the 2 complete checkpoints"), std::string::npos) << what;
    EXPECT_NE(what.find("step_4: "), std::string::npos) << what;
    EXPECT_NE(what.find("is empty"), std::string::npos) << what;
    EXPECT_NE(what.find("step_2: "), std::string::npos) << what;
  }
}

// Protobuf parses nearly any bytes as some message; a state is accepted only when plausible.
TEST_F(Checkpoint, ImplausibleStatesAreRefusedByName) {
  Model a;
  const std::string path = save_checkpoint(dir_, a.store, a.opt->state(), state_at(3), 0);
  const std::string good = [&] {
    std::ifstream in(path + "/state.pb", std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  auto state_with = [&](auto edit) {
    CheckpointState s;
    EXPECT_TRUE(s.ParseFromString(good));
    edit(s);
    return s.SerializeAsString();
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "is empty"},
      {std::string("\x08\x05", 2), "says step 5, but its directory is step_3"},
      {good + std::string("\xf8\x07\x01", 3), "fields a CheckpointState does not have"},
      {state_with([](CheckpointState& s) { s.set_world_size(0); }), "world_size is 0"},
      {state_with([](CheckpointState& s) { s.set_recipe_hash(""); }), "no recipe hash"},
      {state_with([](CheckpointState& s) { s.set_optimizer("lion"); }), "'lion'"},
      {state_with([](CheckpointState& s) { s.set_tokens_seen(-1); }), "tokens_seen is -1"},
      {state_with([](CheckpointState& s) { s.set_elapsed_s(std::nan("")); }), "elapsed_s is nan"},
      {state_with([](CheckpointState& s) { s.set_step(0); }), "not a positive step"},
  };
  for (const auto& [bytes, fragment] : cases) {
    std::ofstream(path + "/state.pb", std::ios::binary | std::ios::trunc) << bytes;
    try {
      read_checkpoint_state(path);
      ADD_FAILURE() << "accepted: " << fragment;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInput) << fragment;
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
}

TEST_F(Checkpoint, NonFiniteWeightsAreRefusedBeforeAnythingChanges) {
  for (const double bad : {std::nan(""), HUGE_VAL}) {
    Model a;
    a.store.params()[0].tensor.data<float>()[5] = static_cast<float>(bad);
    const std::string path = save_checkpoint(dir_, a.store, a.opt->state(), state_at(1), 0);
    Model b;
    const auto before = weights(b.store);
    try {
      load_weights(path, b.store);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInput);
      EXPECT_NE(std::string(e.what()).find("tensor 'w' holds"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("at element 5"), std::string::npos) << e.what();
    }
    EXPECT_EQ(weights(b.store), before);
    fs::remove_all(dir_);
  }
}

// A write that fails half-way (here: an undefined optimizer tensor, as a full disk would) leaves
// the previous checkpoint as it was and no temporary directory.
TEST_F(Checkpoint, FailedWriteLeavesNoTemporaryAndKeepsThePreviousCheckpoint) {
  Model a;
  save_checkpoint(dir_, a.store, a.opt->state(), state_at(1), 0);
  NamedTensors broken = a.opt->state();
  broken.emplace_back("broken", Tensor());
  EXPECT_THROW(save_checkpoint(dir_, a.store, broken, state_at(2), 0), Error);
  EXPECT_THROW(save_checkpoint(dir_, a.store, broken, state_at(1), 0), Error);  // a replacement
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"step_1"});
  Model b;
  EXPECT_EQ(resume_latest(dir_, b.store, *b.opt, nullptr)->step(), 1);
  EXPECT_EQ(weights(b.store), weights(a.store));
}

}  // namespace
}  // namespace attn
