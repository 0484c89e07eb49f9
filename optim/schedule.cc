#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace attn {

double learning_rate(const ScheduleOptions& o, int64_t step) {
  if (step < o.warmup_steps)
    return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  const double span = static_cast<double>(std::max<int64_t>(1, o.total_steps - o.warmup_steps));
  const double p = std::clamp(static_cast<double>(step - o.warmup_steps) / span, 0.0, 1.0);
  const double r = o.min_lr_ratio;
  switch (o.kind) {
    case ScheduleKind::kConstant:
      return o.lr;
    case ScheduleKind::kCosine:
      return o.lr * (r + (1.0 - r) * 0.5 * (1.0 + std::cos(std::numbers::pi * p)));
    case ScheduleKind::kLinear:
      return o.lr * (1.0 - (1.0 - r) * p);
  }
  return o.lr;
}

}  // namespace attn
