#include "recipes/run/run_dir.h"

#include <unistd.h>

#include <filesystem>

#include <google/protobuf/util/message_differencer.h>

#include "framework/core/error.h"
#include "framework/io/file_util.h"

namespace attn {

namespace fs = std::filesystem;

namespace {

// What makes a directory "a run": anything a previous `attnlab train` wrote that a new run
// would overwrite or mix with.
std::string existing_run_marker(const fs::path& root) {
  std::error_code ec;
  if (fs::is_directory(root / "checkpoints", ec) && !fs::is_empty(root / "checkpoints", ec))
    return "checkpoints/";
  if (fs::exists(root / "metrics.jsonl", ec) && fs::file_size(root / "metrics.jsonl", ec) > 0)
    return "metrics.jsonl";
  return "";
}

// The first difference between two recipes as "field: a -> b" text (protobuf's differencer).
std::string recipe_difference(const config::Recipe& saved, const config::Recipe& now) {
  std::string report;
  google::protobuf::util::MessageDifferencer diff;
  diff.ReportDifferencesToString(&report);
  diff.Compare(saved, now);
  const size_t eol = report.find('\n');
  return eol == std::string::npos ? report : report.substr(0, eol);
}

}  // namespace

std::string run_dir_path(const config::Recipe& recipe, const std::string& override_dir) {
  if (!override_dir.empty()) return override_dir;
  if (!recipe.log().run_dir().empty()) return recipe.log().run_dir();
  return "runs/" + recipe.name();
}

RunDir open_run_dir(const config::Recipe& recipe, const std::string& override_dir, bool resume) {
  RunDir run{run_dir_path(recipe, override_dir)};
  const fs::path root(run.root);
  std::error_code ec;
  if (fs::exists(root, ec) && !fs::is_directory(root, ec))
    throw Error(ErrorKind::kInput, run.root, "exists and is not a directory");

  if (!resume) {
    const std::string marker = existing_run_marker(root);
    if (!marker.empty())
      throw Error(ErrorKind::kInput, run.root,
                  fmt::format("already holds a run ({} exists); pass --resume to continue it, or "
                              "--run-dir to start a new one elsewhere",
                              marker));
  } else if (fs::exists(run.recipe(), ec)) {
    const config::Recipe saved = config::load_recipe(run.recipe());
    if (config::recipe_hash(saved) != config::recipe_hash(recipe))
      throw Error(ErrorKind::kConfig, run.recipe(),
                  "--resume with a recipe that differs from the one this run started with (" +
                      recipe_difference(saved, recipe) +
                      "); resume with the saved recipe or start a new run with --run-dir");
  }

  for (const std::string& dir : {run.root, run.checkpoints(), run.plots()}) {
    fs::create_directories(dir, ec);
    if (ec) throw Error(ErrorKind::kIo, dir, "cannot create directory: " + ec.message());
  }
  if (::access(run.root.c_str(), W_OK) != 0)
    throw Error(ErrorKind::kIo, run.root, "run directory is not writable");
  write_file_atomic(run.recipe(), config::recipe_to_text(recipe));
  return run;
}

}  // namespace attn
