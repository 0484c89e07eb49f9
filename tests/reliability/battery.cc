#include "tests/reliability/battery.h"

#include <gtest/gtest.h>

#include <fstream>

#include <google/protobuf/text_format.h>

#include "framework/config/recipe_loader.h"

#include "recipes/data/token_shard.h"
#include "tests/recipes/support/word_corpus.h"
#include "tests/support/temp_dir.h"

namespace attn::test {

namespace fs = std::filesystem;

namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

constexpr const char* kRecipe =
    "name: \"battery\"\n"
    "model { width: 32 layers: 1 heads: 2 seq_len: 16 mlp_ratio: 2 }\n"
    "data { corpus: SHARDS train: \"{dir}/train.bin\" val: \"{dir}/val.bin\" batch_size: 4 }\n"
    "optim { lr: 3e-3 warmup_steps: 1 }\n"
    "train { steps: 4 eval_every: 2 eval_steps: 1 checkpoint_every: 2 keep_last: 0 }\n"
    "log { every: 1 }\n";

}  // namespace

std::string recipe_with(const std::string& extra) {
  // Merged, not appended: text format refuses a field given twice in one text. Printed with
  // every field (zero values included), so `layers: 0` stays in the file.
  attnlab::config::Recipe r;
  if (!google::protobuf::TextFormat::ParseFromString(std::string(config::default_recipe_text()),
                                                     &r) ||
      !google::protobuf::TextFormat::MergeFromString(kRecipe, &r) ||
      !google::protobuf::TextFormat::MergeFromString(extra, &r))
    ADD_FAILURE() << "not a recipe fragment: " << extra;
  return config::recipe_to_text(r);
}

std::function<void(const fs::path&)> recipe_file(const std::string& text) {
  return [text](const fs::path& dir) {
    std::ofstream(dir / "case.textproto", std::ios::binary)
        << replace_all(text, "{dir}", dir.string());
  };
}

BatteryWorld::BatteryWorld() : root(fresh_temp_dir("battery")), recipe_text(kRecipe) {
  write_token_shard((root / "train.bin").string(), word_corpus(1, 60));
  write_token_shard((root / "val.bin").string(), word_corpus(2, 10));
  std::ofstream(root / "recipe.textproto") << replace_all(kRecipe, "{dir}", root.string());
  run = root / "run";
  const CliResult r = run_command(ATTNLAB_BINARY, "train " + (root / "recipe.textproto").string() +
                                                      " --quiet --run-dir " + run.string());
  if (r.code != 0) ADD_FAILURE() << "the battery's run did not train: " << r.output;
}

const BatteryWorld& BatteryWorld::get() {
  static const BatteryWorld world;
  return world;
}

int run_battery(const std::vector<BadInput>& cases) {
  const BatteryWorld& world = BatteryWorld::get();
  int ran = 0;
  for (const BadInput& c : cases) {
    const fs::path dir = world.root / ("case_" + std::to_string(ran));
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(world.root / "train.bin", dir / "train.bin");
    fs::copy_file(world.root / "val.bin", dir / "val.bin");
    std::ofstream(dir / "recipe.textproto") << replace_all(kRecipe, "{dir}", dir.string());
    fs::copy(world.run, dir / "run", fs::copy_options::recursive);
    if (c.setup) c.setup(dir);
    std::string args = replace_all(c.args, "{dir}", dir.string());
    args = replace_all(args, "{recipe}", (dir / "recipe.textproto").string());
    args = replace_all(args, "{run}", (dir / "run").string());
    args = replace_all(args, "{file}", (dir / "case.textproto").string());
    // 60 s: far beyond any refusal; `timeout` turns a hang into exit 124.
    const CliResult r = run_command("timeout 60 " + std::string(ATTNLAB_BINARY), args);
    ++ran;
    EXPECT_EQ(r.code, c.code) << c.name << ": attnlab " << args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.fragment), std::string::npos)
        << c.name << ": expected '" << c.fragment << "' in\n"
        << r.output;
    // A refused run leaves nothing behind to be mistaken for a run (or block the next one).
    if (c.args.find("{dir}/out") != std::string::npos)
      EXPECT_FALSE(fs::exists(dir / "out")) << c.name << ": a refused run created its directory";
    if (!::testing::Test::HasFailure()) fs::remove_all(dir);
  }
  return ran;
}

}  // namespace attn::test
