// One training process of a job: builds the communicators the recipe needs (MPI under mpirun or
// a world of one; NCCL for GPU runs on several ranks), trains, and turns an error on any rank
// into a job-wide abort. The CLI only parses flags and prints the result.
#pragma once

#include <functional>

#include "recipes/train/trainer.h"

namespace attn {

// Returns the process exit code (0, or the error's code after the job was aborted). `report`
// runs on rank 0 with the result.
int run_training_job(const config::Recipe& recipe, const TrainOptions& options,
                     const std::function<void(const TrainResult&)>& report);

}  // namespace attn
