// One projection of the CAD simulator: every scheme at every (GPU count, context length) of a
// grid, averaged over seeded steps, and its report (a Markdown table, JSON lines, PNG plots).
// Every figure is a projection from the cost model, and the report says so.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "parallel/cad/sim/costs.h"
#include "parallel/cad/sim/doc_lengths.h"
#include "parallel/cad/sim/schemes.h"

namespace attn::cad::sim {

struct ProjectionConfig {
  ModelShape model;
  Hardware hardware;
  int tp = 8;              // GPUs per rank (tensor parallelism)
  bool recompute = false;  // selective activation recomputation (Costs)
  std::vector<int> gpus{64, 128, 256, 512};
  std::vector<int64_t> contexts{131072, 524288};  // tokens per rank per micro-batch
  int microbatches = 1;
  int steps = 3;  // seeded steps averaged per point
  uint64_t seed = 1;
  LengthDistribution lengths;  // max_length is set to each context
  std::vector<std::string> schemes{"packing", "wlb", "cp", "cad", "cad+pingpong"};
  PlannerOptions planner;
};

// One (GPUs, context, scheme) point, averaged over the steps (memory: the peak).
struct ProjectionRow {
  int gpus = 0;
  int64_t context = 0;
  SchemeResult result;  // per step: times are means over the steps
  double speedup = 1;   // tokens/s over packing's at the same point
};

// Throws attn::Error(kInput) for an unknown scheme or a GPU count tp does not divide.
std::vector<ProjectionRow> run_projection(
    const ProjectionConfig& config,
    const std::function<void(const std::string&)>& progress = nullptr);

// The Markdown report: what was simulated (model, hardware, lengths), one table row per point,
// and what the columns mean.
std::string projection_markdown(const ProjectionConfig& config,
                                const std::vector<ProjectionRow>& rows);
// One JSON object per line and row.
std::string projection_jsonl(const std::vector<ProjectionRow>& rows);
// speed-up, idle fraction and attention imbalance against GPUs, one PNG per context and measure,
// under dir; returns the paths written.
std::vector<std::string> write_projection_plots(const std::string& dir,
                                                const std::vector<ProjectionRow>& rows);

// "128K", "512K", "1M", "4096" -> tokens.
int64_t parse_tokens(const std::string& text);
std::string format_tokens(int64_t tokens);

}  // namespace attn::cad::sim
