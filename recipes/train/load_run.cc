#include "recipes/train/load_run.h"

#include <filesystem>

#include "framework/core/error.h"
#include "recipes/run/run_dir.h"
#include "recipes/train/from_recipe.h"

namespace attn {

namespace fs = std::filesystem;

CheckpointLocation locate_checkpoint(const std::string& path) {
  CheckpointLocation loc;
  std::error_code ec;
  const fs::path p(path);
  if (!fs::is_directory(p, ec))
    throw Error(ErrorKind::kInput, path,
                "not a directory (expected a run directory or a checkpoint)");
  if (fs::exists(p / "DONE", ec)) {
    loc.checkpoint = path;
    loc.run_dir = p.parent_path().parent_path().string();
  } else if (fs::exists(p / "model.safetensors", ec) || fs::exists(p / "state.pb", ec)) {
    throw Error(ErrorKind::kInput, path,
                "incomplete checkpoint (no DONE marker): its writer did not finish; pass the run "
                "directory to use its newest complete checkpoint");
  } else {
    loc.run_dir = path;
    loc.checkpoint = latest_complete_checkpoint((p / "checkpoints").string());
    if (loc.checkpoint.empty())
      throw Error(ErrorKind::kInput, path,
                  "has no complete checkpoint under checkpoints/ (train it first, or pass a "
                  "checkpoint directory)");
  }
  loc.recipe = RunDir{loc.run_dir}.recipe();
  if (!fs::exists(loc.recipe, ec))
    throw Error(ErrorKind::kInput, loc.recipe, "missing: not an attnlab run directory");
  return loc;
}

std::unique_ptr<LoadedRun> load_run(const std::string& path) {
  auto run = std::make_unique<LoadedRun>();
  const CheckpointLocation loc = locate_checkpoint(path);
  run->run_dir = loc.run_dir;
  run->checkpoint = loc.checkpoint;
  const std::string& recipe_path = loc.recipe;
  run->recipe = config::load_recipe(recipe_path);
  if (run->recipe.model().kind() != attnlab::config::Model::GPT)
    throw Error(ErrorKind::kInput, recipe_path,
                "is an ABMIL run: sample, eval and attnmap take GPT runs (its "
                "validation accuracy and AUC are in metrics.jsonl)");
  // Checked before the weights and the hash so the message names the cause: a model that only
  // ever saw contexts starting with BOS must not be run without it (or the reverse).
  const bool bos = read_checkpoint_state(run->checkpoint).bos();
  if (bos != run->recipe.data().bos())
    throw Error(ErrorKind::kInput, run->checkpoint,
                fmt::format("was trained with data.bos: {}, but {} says data.bos: {}", bos,
                            recipe_path, run->recipe.data().bos()));
  run->model = std::make_unique<Gpt>(run->store, gpt_config(run->recipe));
  run->store.finalize();
  run->state = load_weights(run->checkpoint, run->store);
  if (run->state.recipe_hash() != config::recipe_hash_hex(run->recipe))
    throw Error(ErrorKind::kInput, run->checkpoint,
                "was written by a different recipe than " + recipe_path);
  return run;
}

}  // namespace attn
