// A measured attention cost curve (tools/bench `attnlab_bench_cad_calibrate` writes it): what
// the planner's calibrated cost model (parallel.cad.cost_model CALIBRATED) and the simulator's
// CPU hardware read.
#pragma once

#include <cstdint>
#include <string>

#include "parallel/cad/planner.h"

namespace attn::cad {

// A measured CPU attention cost (tools/bench `attnlab_bench_cad_calibrate`): nanoseconds per
// causal pair, per query row and per task of one packed call, at `heads * dim` head width.
struct CalibratedAttention {
  double per_pair_ns = 0, per_row_ns = 0, per_task_ns = 0;
  int64_t width = 0;          // heads * dim it was measured at
  bool forward_only = false;  // true: the backward is charged 2.5x the forward
  std::string source;         // the file it came from
};
// Reads the calibration JSON; errors name the path and the missing or bad field.
CalibratedAttention read_calibration(const std::string& path);

// The planner's cost model in nanoseconds for a model whose heads x head_dim is `width`: the
// per-pair and per-row terms scale with the width (the kernel's work is linear in it).
CostModel calibrated_cost_model(const CalibratedAttention& c, int64_t width);

}  // namespace attn::cad
