// attnlab ablate ABLATION [--processes N] [--threads T] [--out DIR] [--set path=value]...
// [--dry-run] [--results-only] [--quiet]: train a grid of arms x seeds (recipes/ablate/) and
// compare them in results.md, results.csv and plots/.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include "framework/core/threads.h"
#include "recipes/ablate/ablation.h"
#include "recipes/ablate/results.h"
#include "recipes/ablate/runner.h"
#include "tools/command.h"

namespace attn::cli {

namespace {

// This process's command line as typed (for results.md).
std::string own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> argv;
  for (std::string arg; std::getline(in, arg, '\0');) argv.push_back(arg);
  if (argv.empty()) return "attnlab ablate";
  return shell_command(argv[0], std::vector<std::string>(argv.begin() + 1, argv.end()));
}

}  // namespace

Run add_ablate_command(CLI::App& app) {
  struct Args {
    std::string file;
    std::vector<std::string> sets;
    std::string out;
    int processes = 0;
    int threads = 0;
    bool dry_run = false;
    bool results_only = false;
    bool quiet = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "ablate",
      "Train every arm of an ablation once per seed (child `attnlab train` processes) and write "
      "results.md (mean +- std over seeds per metric), results.csv, results_summary.csv and "
      "plots/*.png into the output directory. Finished runs are kept (DONE marker); rerunning "
      "the same command resumes unfinished ones from their checkpoints");
  sub->add_option("ablation", args->file, "Ablation file (.textproto, see ablation.proto)")
      ->required();
  sub->add_option("--processes", args->processes,
                  "Training processes at once (default: the ablation's `processes`, else 1)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--threads", args->threads,
                  "CPU threads in total, split evenly among the processes (default: all cores)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--out", args->out,
                  "Output directory (default: the ablation's out_dir, else runs/ablations/<name>)");
  sub->add_option("--set", args->sets,
                  "Override a recipe field in every arm: path=value (an arm's own set wins)")
      ->type_name("PATH=VALUE")
      ->allow_extra_args(false);
  sub->add_flag("--dry-run", args->dry_run,
                "Validate every arm, print each run's state and command, train nothing");
  sub->add_flag("--results-only", args->results_only,
                "Rebuild results and plots from the finished runs, train nothing");
  sub->add_flag("--quiet", args->quiet, "No progress lines (errors and the results table only)");
  return [args] {
    const auto start = std::chrono::steady_clock::now();
    const AblationPlan plan = plan_ablation(args->file, {args->sets, args->out});
    check_finished_runs(plan);
    const int processes = args->processes > 0 ? args->processes : plan.ablation.processes();

    if (args->dry_run) {
      int to_train = 0;
      for (const AblationRun& run : plan.runs) to_train += run_state(run) != RunState::kDone;
      const int threads =
          threads_per_run(args->threads > 0 ? args->threads : num_threads(), processes, to_train);
      std::printf("ablate %s: %zu runs (%d arms x %d seeds), %d to train, %d at a time, into %s\n",
                  plan.ablation.name().c_str(), plan.runs.size(), plan.ablation.arm_size(),
                  plan.ablation.seeds_size(), to_train, std::min(processes, std::max(1, to_train)),
                  plan.out_dir.c_str());
      for (const AblationRun& run : plan.runs)
        std::printf("%-6s %s seed %lld: %s\n", run_state_name(run_state(run)), run.arm.c_str(),
                    static_cast<long long>(run.seed),
                    shell_command("attnlab", train_args(plan, run, threads)).c_str());
      return 0;
    }

    RunnerReport report;
    if (!args->results_only) report = run_grid(plan, {"", processes, args->threads, args->quiet});
    const AblationResults results = collect_results(plan);
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    write_results(plan, results, {own_command_line(), wall_s});
    std::printf("\n%s\nresults: %s/results.md (%zu of %zu runs finished)\n",
                results_table(plan, results).c_str(), plan.out_dir.c_str(), results.runs.size(),
                plan.runs.size());
    std::fflush(stdout);

    if (report.signal != 0) {
      std::fprintf(stderr, "interrupted (signal %d): rerun the same command to resume\n",
                   report.signal);
      return 128 + report.signal;
    }
    if (!report.failed.empty()) {
      std::fprintf(stderr, "error: %zu of %d runs failed:\n", report.failed.size(), report.total);
      for (const std::string& f : report.failed) std::fprintf(stderr, "  %s\n", f.c_str());
      return 1;
    }
    return 0;
  };
}

}  // namespace attn::cli
