// `attnlab train`: one recipe -> a run directory with metrics, plots, TensorBoard events and
// checkpoints; resumable bit for bit, interruptible (SIGINT saves a checkpoint first).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/config/recipe_loader.h"
#include "parallel/comm/communicator.h"

namespace attn {

struct TrainOptions {
  std::string run_dir;      // "" = log.run_dir or runs/<name>
  bool resume = false;      // continue from the newest complete checkpoint
  bool quiet = false;       // no progress output (errors and the summary only)
  int64_t stop_after = -1;  // stop (with a checkpoint) after this step, as if interrupted; -1 = off
  // The ranks training together (parallel.mode DATA_PARALLEL); null = a world of one. Rank 0
  // writes the run directory, metrics and checkpoints; every rank returns the same result.
  Communicator* comm = nullptr;
  // The same ranks over GPU buffers (NCCL) for gradients and parameters when train.device is
  // CUDA and there is more than one rank; `comm` still carries host values (losses, flags).
  Communicator* device_comm = nullptr;
};

struct TrainResult {
  std::string run_dir;
  int64_t steps_done = 0;  // optimizer steps completed (including those before a resume)
  double last_loss = 0;
  double val_loss = 0;      // NaN when no validation ran
  double val_bpb = 0;       // bits per byte of the validation split (NaN for ABMIL)
  double val_accuracy = 0;  // bag accuracy and ROC AUC (ABMIL; NaN for the GPT)
  double val_auc = 0;
  bool interrupted = false;
};

TrainResult train(const config::Recipe& recipe, const TrainOptions& options);

}  // namespace attn
