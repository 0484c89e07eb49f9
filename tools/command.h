// Each `attnlab` subcommand lives in its own file and registers itself with the CLI11 app;
// the returned callback runs when that subcommand was chosen and returns the exit code.
#pragma once

#include <cstdlib>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace attn::cli {

using Run = std::function<int()>;

// A flag value that must be a number >= 0. CLI11's NonNegativeNumber reports a failure as a
// range up to DBL_MAX written out in 300 digits; this says what is wrong.
inline CLI::Validator non_negative() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(value.c_str(), &end);
        if (end == value.c_str() || *end != '\0' || !(v >= 0))
          return "must be a number >= 0, got '" + value + "'";
        return "";
      },
      "NUMBER >= 0");
}

Run add_recipe_command(CLI::App& app);   // attnlab recipe: validate and print a resolved recipe
Run add_smoke_command(CLI::App& app);    // attnlab smoke: tiny built-in training run
Run add_data_command(CLI::App& app);     // attnlab data: prepare corpora as token shards
Run add_plot_command(CLI::App& app);     // attnlab plot: re-render a run's PNG plots
Run add_train_command(CLI::App& app);    // attnlab train: train a recipe into a run directory
Run add_eval_command(CLI::App& app);     // attnlab eval: validation loss of a checkpoint
Run add_sample_command(CLI::App& app);   // attnlab sample: generate text from a checkpoint
Run add_ablate_command(CLI::App& app);   // attnlab ablate: a grid of arms x seeds, compared
Run add_attnmap_command(CLI::App& app);  // attnlab attnmap: attention heatmaps of a checkpoint
Run add_cad_sim_command(CLI::App& app);  // attnlab cad-sim: CAD projected to 64-512 GPUs

}  // namespace attn::cli
