// attnlab train RECIPE [--set path=value]... [--resume] [--run-dir DIR] [--quiet]: pretrain the
// recipe's model, alone or under `mpirun -np N` (parallel.mode DATA_PARALLEL); see
// recipes/train/trainer.h for what a run directory holds.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/threads.h"
#include "recipes/train/train_job.h"
#include "tools/command.h"

namespace attn::cli {

Run add_train_command(CLI::App& app) {
  struct Args {
    std::string file;
    std::vector<std::string> sets;
    TrainOptions options;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "train", "Train a recipe: writes runs/<name>/ (recipe, metrics.jsonl, plots, checkpoints)");
  sub->add_option("recipe", args->file, "Recipe file (.textproto)")->required();
  sub->add_option("--set", args->sets, "Override a field: path=value, e.g. optim.lr=3e-4")
      ->type_name("PATH=VALUE")
      ->allow_extra_args(false);
  sub->add_flag("--resume", args->options.resume,
                "Continue from the newest complete checkpoint in the run directory");
  sub->add_option("--run-dir", args->options.run_dir,
                  "Run directory (default: log.run_dir, else runs/<name>)");
  sub->add_flag("--quiet", args->options.quiet, "Only errors and the final summary");
  sub->add_option("--stop-after", args->options.stop_after,
                  "Stop with a checkpoint after this step, as if interrupted (resume later)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--threads", args->threads, "CPU threads (default: all cores)")
      ->check(CLI::PositiveNumber);
  return [args] {
    if (args->threads > 0) set_num_threads(args->threads);
    const config::Recipe recipe = config::load_recipe(args->file, args->sets);
    return run_training_job(recipe, args->options, [](const TrainResult& r) {
      std::printf("%s after %lld steps: loss %.4f", r.interrupted ? "stopped" : "done",
                  static_cast<long long>(r.steps_done), r.last_loss);
      if (!std::isnan(r.val_loss)) std::printf(", val loss %.4f", r.val_loss);
      if (!std::isnan(r.val_bpb)) std::printf(", %.4f bits/byte", r.val_bpb);
      if (!std::isnan(r.val_accuracy))
        std::printf(", accuracy %.4f, AUC %.4f", r.val_accuracy, r.val_auc);
      std::printf("\nrun directory: %s\n", r.run_dir.c_str());
    });
  };
}

}  // namespace attn::cli
