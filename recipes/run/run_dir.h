// The run directory: runs/<name>/ (or log.run_dir, or --run-dir) with the resolved recipe,
// metrics.jsonl, TensorBoard events, plots/ and checkpoints/. Creation refuses to clobber a run.
#pragma once

#include <string>

#include "framework/config/recipe_loader.h"

namespace attn {

struct RunDir {
  std::string root;
  std::string recipe() const { return root + "/recipe.textproto"; }
  std::string metrics() const { return root + "/metrics.jsonl"; }
  std::string checkpoints() const { return root + "/checkpoints"; }
  std::string plots() const { return root + "/plots"; }
};

// Where a recipe's run lives: `override_dir` if given, else log.run_dir, else runs/<name>.
std::string run_dir_path(const config::Recipe& recipe, const std::string& override_dir);

// Creates (or, with `resume`, reopens) the run directory and writes recipe.textproto. Without
// `resume`, a directory that already holds a run (checkpoints or metrics) is an error and nothing
// in it is touched. With `resume`, the saved recipe must equal `recipe` (else kConfig, naming
// the first differing field), so a resumed run cannot silently change its own definition.
RunDir open_run_dir(const config::Recipe& recipe, const std::string& override_dir, bool resume);

}  // namespace attn
