// The bad-input battery (issue 25): cases fed to the real `attnlab` binary, each stating the exit
// status and a fragment of the message it must print. No case may crash (a signal), hang (the
// per-command timeout), or exit 0. Shared by the battery's test files.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "tests/support/cli.h"

namespace attn::test {

// One bad input: `args` after `attnlab` (placeholders: {dir} the case's own directory, {recipe}
// a valid recipe over {dir}'s shards, {run} a copy of a trained run, {file} the case's file),
// prepared by `setup` (may be empty) and expected to exit `code` printing `fragment`.
struct BadInput {
  std::string name;
  std::string args;
  int code;
  std::string fragment;
  std::function<void(const std::filesystem::path& dir)> setup = nullptr;
};

// A directory with word-corpus shards (train.bin, val.bin), a valid recipe over them and one
// trained run (4 steps, checkpoints at steps 2 and 4), made once per process.
class BatteryWorld {
 public:
  static const BatteryWorld& get();
  std::filesystem::path root;
  std::string recipe_text;  // the valid recipe ({dir} stands for the case's directory)
  std::filesystem::path run;

 private:
  BatteryWorld();
};

// Runs each case in a fresh directory ({dir}: shards and recipe copied in, {run}: the trained
// run copied to {dir}/run) and checks it; returns how many ran.
int run_battery(const std::vector<BadInput>& cases);

// The valid recipe with the recipe fragment `extra` merged in (its fields replace the recipe's).
std::string recipe_with(const std::string& extra);

// Writes `text` to {dir}/case.textproto: a setup for recipe cases.
std::function<void(const std::filesystem::path&)> recipe_file(const std::string& text);

}  // namespace attn::test
