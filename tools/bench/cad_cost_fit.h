// The CAD calibration's arithmetic (attnlab_bench_cad_calibrate): a task's causal pairs and the
// score entries the CPU kernel's tiles compute for it, and a nonnegative least-squares fit of
// the planner's linear cost model on relative error.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace attn::bench {

// A task of the kernel's view: q_len query rows that are the last rows of a kv_len prefix.
struct TaskShape {
  int64_t q, kv;
};

double median(std::vector<double> v);

// Causal pairs of the task's rows: the last q rows of a kv-key prefix.
int64_t slice_pairs(const TaskShape& s);

// Score entries the CPU kernel really computes (layers/attention/attention_kernel.cc): the
// forward scores each 64-row query block against every key up to its last row; the backward
// scores each 128-key tile against every query block that sees any of it, with five products
// per tile against the forward's two, hence the 2.5 weight.
double tile_area(const TaskShape& s, bool backward, int64_t block_q = 64, int64_t block_k = 128);

struct Fit {
  std::array<double, 3> c{0, 0, 0};  // per area unit, per row, per task (ns)
  double rms = 0, max = 0;           // relative errors over the points
  double predict(const std::array<double, 3>& x) const {
    return c[0] * x[0] + c[1] * x[1] + c[2] * x[2];
  }
};

// Least squares on relative error (weights 1/y^2): the points span four decades, and an
// absolute fit would ignore the small tasks whose per-task floor the planner must see. The
// nonnegative solution is the best over all column subsets with a nonnegative unconstrained
// solution (exact NNLS for 3 unknowns).
Fit fit_relative(const std::vector<std::array<double, 3>>& x, const std::vector<double>& y);

}  // namespace attn::bench
