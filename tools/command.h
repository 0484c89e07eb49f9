// Each `attnlab` subcommand lives in its own file and registers itself with the CLI11 app;
// the returned callback runs when that subcommand was chosen and returns the exit code.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace attn::cli {

using Run = std::function<int()>;

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
