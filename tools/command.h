// Each `attnlab` subcommand lives in its own file and registers itself with the CLI11 app;
// the returned callback runs when that subcommand was chosen and returns the exit code.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace attn::cli {

using Run = std::function<int()>;

Run add_recipe_command(CLI::App& app);  // attnlab recipe: validate and print a resolved recipe
Run add_smoke_command(CLI::App& app);   // attnlab smoke: tiny built-in training run
Run add_data_command(CLI::App& app);    // attnlab data: prepare corpora as token shards
Run add_plot_command(CLI::App& app);    // attnlab plot: re-render a run's PNG plots

}  // namespace attn::cli
