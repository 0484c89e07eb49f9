// The CAD planner (SPEC-cad "Planner"): from a batch's worker layout, core-attention tasks
// rebalanced over the ranks as attention servers. Deterministic and integer in every decision,
// so all ranks compute the same plan; no communication.
//
// Greedy as DistCA's: servers below the mean, largest deficit first, each takes the move with
// the fewest bytes per unit of work from the servers above the mean, sized to
// min(deficit, donor surplus, task) without leaving a slice under min_slice rows; it stops only
// when both bounds hold (max <= (1 + eps) mean, min >= (1 - eps) mean) or no move fits. Move
// shapes: the mirrored middle band of a task (DistCA's: rows i and n-1-i of a slice cost the
// same together, so bands move work in even units; odd slices keep their middle row in the
// band) and the whole task; attnlab's extensions, on by default: a prefix or suffix slice.
// Also attnlab's: when every deficit is smaller than the smallest slice a donor may cut, the
// busiest server sheds work to a lightly loaded one (within the upper bound if it can, else
// ending below the donor), because a receiver may pass the mean as long as the maximum falls.
#pragma once

#include <vector>

#include "parallel/cad/plan.h"

namespace attn::cad {

// A task's predicted cost in integer units: round(per_pair * pairs + per_row * rows + per_task).
// The default counts causal pairs exactly; a calibrated model (measured kernel times) charges
// per row and per task too (the small-slice floor).
struct CostModel {
  double per_pair = 1, per_row = 0, per_task = 0;
  int64_t cost(int64_t q_begin, int64_t q_end) const;
};

struct PlannerOptions {
  double eps = 0.10;        // load tolerance around the mean
  int64_t min_slice = 128;  // no cut leaves a slice shorter than this (whole short tasks move)
  ByteCosts bytes{1, 2, 1};
  int64_t buffer_bytes = 0;  // per rank and direction; over it, re-plan up the ladder; 0 = off
  CostModel cost;
  bool prefix_suffix = true;  // attnlab's extra move shapes (DistCA: middle bands only)
  // Cut documents only at multiples of this many rows from their start (>= 1). CAD's runtime
  // sets the kernel's query tile, so every server computes the tiles one rank would.
  int64_t align = 1;
};

// The tolerances tried, in order, when a plan exceeds the buffer budget (DistCA's driver).
const std::vector<double>& tolerance_ladder();

Plan plan_attention(const WorkerLayout& layout, const PlannerOptions& options = {});

}  // namespace attn::cad
