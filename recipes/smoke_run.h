// A tiny built-in training run that exercises the whole stack (ops, autograd, flat parameters,
// optimizer) in seconds: an MLP learns the next-token map t -> (5 t + 3) mod vocab.
#pragma once

#include <cstdint>
#include <functional>

namespace attn {

struct SmokeRunOptions {
  int steps = 300;
  int64_t vocab = 64;
  int64_t width = 64;
  int64_t batch = 128;
  double lr = 0.3;
  uint64_t seed = 1;
};

struct SmokeRunResult {
  double first_loss = 0;
  double final_loss = 0;
};

// Calls `on_step(step, loss)` after every step (progress output belongs to the caller).
SmokeRunResult run_smoke(const SmokeRunOptions& options,
                         const std::function<void(int, double)>& on_step = {});

}  // namespace attn
