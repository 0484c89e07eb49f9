#include "tools/bench/cad_cost_fit.h"

#include <algorithm>
#include <cmath>

#include "parallel/cad/plan.h"

namespace attn::bench {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int64_t slice_pairs(const TaskShape& s) {
  return attn::cad::causal_pairs(s.kv - s.q, s.kv);
}

double tile_area(const TaskShape& s, bool backward, int64_t block_q, int64_t block_k) {
  const int64_t off = s.kv - s.q;
  double fwd = 0, bwd = 0;
  for (int64_t r0 = 0; r0 < s.q; r0 += block_q) {
    const int64_t r1 = std::min(s.q, r0 + block_q);
    fwd += static_cast<double>(r1 - r0) * (off + r1);
  }
  if (backward)
    for (int64_t jb = 0; jb < s.kv; jb += block_k) {
      const int64_t nk = std::min(s.kv, jb + block_k) - jb;
      for (int64_t r0 = 0; r0 < s.q; r0 += block_q) {
        const int64_t r1 = std::min(s.q, r0 + block_q);
        if (off + r1 - 1 >= jb) bwd += static_cast<double>(r1 - r0) * nk;
      }
    }
  return fwd + 2.5 * bwd;
}

Fit fit_relative(const std::vector<std::array<double, 3>>& x, const std::vector<double>& y) {
  std::array<double, 3> scale{1, 1, 1};  // columns scaled to max 1 for conditioning
  for (const auto& xi : x)
    for (int j = 0; j < 3; ++j) scale[j] = std::max(scale[j], std::fabs(xi[j]));
  Fit best;
  double best_sse = INFINITY;
  for (int mask = 1; mask < 8; ++mask) {
    std::vector<int> cols;
    for (int j = 0; j < 3; ++j)
      if (mask >> j & 1) cols.push_back(j);
    const int m = static_cast<int>(cols.size());
    double A[3][4] = {};  // augmented normal equations
    for (size_t i = 0; i < x.size(); ++i) {
      const double w = 1.0 / (y[i] * y[i]);
      for (int r = 0; r < m; ++r) {
        const double xr = x[i][cols[r]] / scale[cols[r]];
        for (int c = 0; c < m; ++c) A[r][c] += w * xr * x[i][cols[c]] / scale[cols[c]];
        A[r][m] += w * xr * y[i];
      }
    }
    bool singular = false;  // Gauss-Jordan with partial pivoting
    for (int p = 0; p < m && !singular; ++p) {
      int piv = p;
      for (int r = p + 1; r < m; ++r) piv = std::fabs(A[r][p]) > std::fabs(A[piv][p]) ? r : piv;
      std::swap(A[p], A[piv]);
      singular = std::fabs(A[p][p]) < 1e-300;
      for (int r = 0; r < m && !singular; ++r)
        for (int c = m; c >= p && r != p; --c) A[r][c] -= A[r][p] / A[p][p] * A[p][c];
    }
    if (singular) continue;
    Fit f;
    bool negative = false;
    for (int r = 0; r < m; ++r) {
      f.c[cols[r]] = A[r][m] / A[r][r] / scale[cols[r]];
      negative = negative || f.c[cols[r]] < 0;
    }
    if (negative) continue;
    double sse = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double e = f.predict(x[i]) / y[i] - 1;
      sse += e * e;
      f.max = std::max(f.max, std::fabs(e));
    }
    f.rms = std::sqrt(sse / static_cast<double>(x.size()));
    if (sse < best_sse) best_sse = sse, best = f;
  }
  return best;
}

}  // namespace attn::bench
