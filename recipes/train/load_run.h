// Opens a finished or running training run for evaluation and sampling: its saved recipe and
// the weights of its newest complete checkpoint (or of a named checkpoint directory).
#pragma once

#include <memory>
#include <string>

#include "framework/config/recipe_loader.h"
#include "framework/core/param_store.h"
#include "layers/models/gpt.h"
#include "recipes/run/checkpoint.h"

namespace attn {

// A checkpoint named by a run directory (its newest complete checkpoint) or by the checkpoint
// directory itself, with the run it belongs to. Errors name the path and what is missing.
struct CheckpointLocation {
  std::string run_dir;
  std::string checkpoint;
  std::string recipe;  // the run's resolved recipe file
};
CheckpointLocation locate_checkpoint(const std::string& path);

struct LoadedRun {
  config::Recipe recipe;
  std::string run_dir;
  std::string checkpoint;  // the checkpoint directory the weights came from
  CheckpointState state;
  ParamStore store;
  std::unique_ptr<Gpt> model;
};

// `path` is a run directory (runs/<name>) or one of its checkpoints (runs/<name>/checkpoints/
// step_N). Errors name the path and what is missing.
std::unique_ptr<LoadedRun> load_run(const std::string& path);

}  // namespace attn
