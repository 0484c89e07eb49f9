// Learning-rate schedules: linear warmup from 0, then constant, cosine or linear decay to
// min_lr_ratio * lr at the last step. A pure function of the step, so resuming needs no state.
#pragma once

#include <cstdint>

namespace attn {

enum class ScheduleKind { kConstant, kCosine, kLinear };

struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::kCosine;
  double lr = 1e-3;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double min_lr_ratio = 0.1;
};

// Learning rate of 0-based step s: s < W: lr (s+1) / W; then with p = (s-W) / max(1, S-W)
// (clamped to [0, 1]) and r = min_lr_ratio: cosine lr (r + (1-r)(1 + cos(pi p)) / 2),
// linear lr (1 - (1-r) p), constant lr.
double learning_rate(const ScheduleOptions& options, int64_t step);

}  // namespace attn
