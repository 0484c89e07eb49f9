// Ablation grids (recipes/ablate/ablation.proto): parse the text file with file:line errors,
// fill in defaults, validate, and resolve every (arm, seed) recipe before anything trains.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/config/recipe_loader.h"
#include "recipes/ablate/ablation.pb.h"

namespace attn {

using Ablation = attnlab::config::Ablation;
using AblationMetric = attnlab::config::Ablation::Metric;

// Parses and validates an ablation; zero values come back as their defaults (processes 1,
// spike_ratio 1.05, out_dir runs/ablations/<name>, metric labels and reduce LAST, metrics
// val_loss and val_bpb when none are listed). Throws attn::Error(kConfig) with where =
// "file:line" (or the file when the field was not written).
Ablation load_ablation(const std::string& path);
Ablation load_ablation_from_string(const std::string& text, const std::string& display_name);

// One training run of the grid: `attnlab train base --set overrides... --run-dir run_dir`.
struct AblationRun {
  std::string arm;
  int64_t seed = 0;
  std::string run_dir;                 // <out>/<arm>/seed<seed>
  std::vector<std::string> overrides;  // in order; train.seed=<seed> last
  config::Recipe recipe;               // base + overrides, validated
};

struct AblationPlan {
  Ablation ablation;  // as loaded, defaults filled in
  std::string file;   // the ablation file
  std::string base;   // the base recipe's path from the working directory
  std::string out_dir;
  std::vector<AblationRun> runs;  // arm-major: every seed of the first arm, then the next arm
};

struct PlanOptions {
  std::vector<std::string> sets;  // applied after the ablation's `set`, before each arm's own
  std::string out_dir;            // "" = ablation.out_dir
};

// Loads the ablation and resolves every run with config::load_recipe, so a bad override fails
// here: where = the line of the offending `set` (or of the arm), and the message names the arm.
AblationPlan plan_ablation(const std::string& path, const PlanOptions& options = {});

// The arm's runs in plan order (seeds as listed).
std::vector<const AblationRun*> runs_of_arm(const AblationPlan& plan, const std::string& arm);

// A metric label as a file name: every character outside [A-Za-z0-9_.-] becomes '_'
// ("attn/first_token_mass" -> "attn_first_token_mass").
std::string label_file_stem(const std::string& label);

}  // namespace attn
