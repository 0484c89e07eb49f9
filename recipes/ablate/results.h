// Results of an ablation grid: each finished run's metrics.jsonl reduced to one number per
// metric, arms aggregated over seeds, and written as results.md, results.csv,
// results_summary.csv, plots/loss.png (mean training loss per arm) and plots/<label>.png (bars).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "recipes/ablate/ablation.h"
#include "recipes/ablate/metric_reduce.h"

namespace attn {

// The marker `attnlab ablate` writes into a run directory once its `attnlab train` exited 0
// having trained every step: only such runs count as finished (and are never trained again).
inline constexpr const char* kRunDoneMarker = "DONE";
bool run_finished(const AblationRun& run);

struct RunResult {
  std::string arm;
  int64_t seed = 0;
  std::vector<std::optional<double>> metrics;  // one per ablation metric; nullopt: key not logged
  std::vector<double> steps, losses;           // the training loss curve
};

struct ArmResult {
  std::string arm;
  int planned = 0;               // seeds in the plan
  int finished = 0;              // finished runs (those in AblationResults::runs)
  std::vector<MeanStd> metrics;  // over the finished runs that logged the key
};

struct AblationResults {
  std::vector<RunResult> runs;  // finished runs, in plan order
  std::vector<ArmResult> arms;  // every arm, in plan order
};

// One run's metrics from its metrics.jsonl rows.
RunResult reduce_run(const Ablation& ablation, const AblationRun& run,
                     const std::vector<nlohmann::json>& rows);

// Reads metrics.jsonl of every finished run of the plan (recipes/run/metrics_log.h).
AblationResults collect_results(const AblationPlan& plan);

struct ResultsInfo {
  std::string command;  // the command line, for results.md
  double wall_s = 0;    // wall time of this invocation
};

// Writes the results files and plots under plan.out_dir (atomically); returns their paths.
std::vector<std::string> write_results(const AblationPlan& plan, const AblationResults& results,
                                       const ResultsInfo& info);

// The arms x metrics table of results.md (Markdown), also printed at the end of `attnlab ablate`.
std::string results_table(const AblationPlan& plan, const AblationResults& results);

// "2.4512 ± 0.0123", "2.4512" (one seed), "-" (n == 0): four decimals, scientific outside
// [1e-3, 1e5).
std::string format_mean_std(const MeanStd& m);

}  // namespace attn
