// Runs the (arm, seed) runs of an ablation plan as `attnlab train` child processes, up to N at a
// time: finished runs (DONE marker) are skipped, runs with a checkpoint continue with --resume,
// a failing run is reported without stopping the others, and SIGINT/SIGTERM reach the children.
#pragma once

#include <string>
#include <vector>

#include "recipes/ablate/ablation.h"

namespace attn {

struct RunnerOptions {
  std::string binary;  // the attnlab executable; "" = this process's (/proc/self/exe)
  int processes = 1;   // children at once
  int threads = 0;     // CPU threads in total, split among the children; 0 = num_threads()
  bool quiet = false;  // no start line or per-run progress lines (failures are still reported)
};

struct RunnerReport {
  int total = 0;                    // runs in the plan
  int already_done = 0;             // finished before this invocation
  int finished = 0;                 // finished by this invocation
  std::vector<std::string> failed;  // "arm/seedS: why", one per failed run
  int signal = 0;                   // the SIGINT/SIGTERM that stopped the grid; 0 = none
};

enum class RunState {
  kDone,    // DONE marker: never trained again
  kResume,  // a complete checkpoint: continued with --resume
  kNew,     // anything else: (re)started from step 0
};
RunState run_state(const AblationRun& run);
const char* run_state_name(RunState state);  // "done", "resume", "new"

// Threads per child: max(1, total / min(processes, runs to train)).
int threads_per_run(int total_threads, int processes, int runs_to_train);

// The child's arguments after the binary: train BASE --set ... --run-dir DIR --quiet
// --threads T, plus --resume for a run with a checkpoint.
std::vector<std::string> train_args(const AblationPlan& plan, const AblationRun& run, int threads);

// `binary args...` as a shell would need it typed (arguments quoted where necessary).
std::string shell_command(const std::string& binary, const std::vector<std::string>& args);

// A finished run trained with a different recipe than the plan now resolves for it (an edited
// arm, base or --set) would be compared as if it were the new one: kConfig naming the run and
// the first difference, before anything trains.
void check_finished_runs(const AblationPlan& plan);

// Trains every unfinished run and writes its DONE marker when the child exits 0 having trained
// all steps. Children write to <run_dir>/train.log (appended, one header line per launch).
// Returns after every child has exited; on SIGINT/SIGTERM, starts no new runs, forwards the
// signal (children checkpoint and stop) and reports it.
RunnerReport run_grid(const AblationPlan& plan, const RunnerOptions& options);

}  // namespace attn
