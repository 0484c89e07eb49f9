#include "layers/losses/kernels/adl_kernel.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "framework/core/threads.h"
#include "framework/kernels/cpu/gemm.h"
#include "layers/attention/attention_tiles.h"

namespace attn::cpu {

namespace {

// Enough units per document to keep the cores busy on one long document; a constant, so the
// reduction order never depends on the machine.
constexpr int64_t kChunksPerDoc = 8;

// Query blocks [b0, b1) of one document, and where its column partials live.
struct Unit {
  int64_t doc, b0, b1;
  int64_t col_offset;  // into a buffer of per-unit column partials, one slot per document key
};

struct Plan {
  std::vector<Doc> docs;
  std::vector<Unit> units;
  std::vector<int64_t> first_unit;  // [docs + 1]
  int64_t partial_cols = 0;
  std::vector<int64_t> valid_prefix;  // [tokens_k + 1] when some keys are invalid
};

template <typename T>
Plan make_plan(const AttentionProblem<T>& p) {
  Plan plan;
  plan.docs = documents(p.cu_q, p.cu_k, p.docs);
  plan.first_unit.push_back(0);
  for (int64_t b = 0; b < p.docs; ++b) {
    const Doc& doc = plan.docs[b];
    const int64_t len = doc.k1 - doc.k0, blocks = (doc.q1 - doc.q0 + p.block_q - 1) / p.block_q;
    const int64_t chunks = std::min(kChunksPerDoc, blocks);
    for (int64_t c = 0; c < chunks; ++c) {
      plan.units.push_back({b, c * blocks / chunks, (c + 1) * blocks / chunks, plan.partial_cols});
      plan.partial_cols += len;
    }
    plan.first_unit.push_back(static_cast<int64_t>(plan.units.size()));
  }
  if (p.key_valid) {
    const int64_t tk = p.cu_k[p.docs];
    plan.valid_prefix.assign(tk + 1, 0);
    for (int64_t j = 0; j < tk; ++j)
      plan.valid_prefix[j + 1] = plan.valid_prefix[j] + (p.key_valid[j] != 0);
  }
  return plan;
}

// Row i's threshold theta / N_i, N_i the keys it sees (+inf when it sees none).
template <typename T>
double row_threshold(const AttentionProblem<T>& p, const Plan& plan, const Doc& doc, int64_t i,
                     double theta) {
  const int64_t lo = p.row_lo[i], hi = p.row_hi[i];
  if (lo > hi) return std::numeric_limits<double>::infinity();
  const int64_t keys = p.key_valid
                           ? plan.valid_prefix[doc.k0 + hi + 1] - plan.valid_prefix[doc.k0 + lo]
                           : hi - lo + 1;
  return keys > 0 ? theta / static_cast<double>(keys) : std::numeric_limits<double>::infinity();
}

// One query block's head-averaged probabilities over its visible key range: abar [bq, w] over
// document keys [lo, lo + w), and each head's probabilities prob [heads, bq, w] when kept.
template <typename T>
struct Strip {
  int64_t i0 = 0, bq = 0, lo = 0, w = 0;
  bool all_heads = false;  // prob holds every head (backward) or the last one only (forward)
  std::vector<T> prob;
  std::vector<double> abar;
  T* head(int64_t h) { return prob.data() + (all_heads ? h * bq * w : 0); }
};

// Fills `s` for rows [i0, i1) of `doc`; false when none of them sees a key.
template <typename T>
bool head_average(const AttentionProblem<T>& p, const Doc& doc, const T* lse, int64_t i0,
                  int64_t i1, bool keep_heads, Strip<T>& s) {
  int64_t lo, hi;
  rows_key_range(p, i0, i1, lo, hi);
  if (hi < lo) return false;
  s.i0 = i0, s.bq = i1 - i0, s.lo = lo, s.w = hi - lo + 1;
  const int64_t n = s.bq * s.w, H = p.heads, group = p.heads / p.kv_heads;
  const double inv_heads = 1.0 / static_cast<double>(H);
  s.abar.assign(n, 0.0);
  s.all_heads = keep_heads;
  s.prob.resize(keep_heads ? H * n : n);
  for (int64_t h = 0; h < H; ++h) {
    T* pr = s.head(h);
    if (!tile_scores(p, doc, h, h / group, i0, i1, doc.k0 + lo, doc.k0 + hi + 1, pr)) {
      std::fill(pr, pr + n, T(0));
      continue;
    }
    tile_probabilities(pr, lse, i0, H, h, s.bq, s.w, pr);
    double* abar = s.abar.data();
#pragma omp simd
    for (int64_t e = 0; e < n; ++e) abar[e] += static_cast<double>(pr[e]) * inv_heads;
  }
  return true;
}

template <typename T>
Strip<T>& strip_scratch() {
  static thread_local Strip<T> s;  // one per thread and element type, reused across calls
  return s;
}

// Calls f(strip) for every query block of `unit` whose rows see some key.
template <typename T, typename F>
void for_each_strip(const AttentionProblem<T>& p, const Plan& plan, const Unit& unit, const T* lse,
                    bool keep_heads, F&& f) {
  Strip<T>& s = strip_scratch<T>();
  const Doc& doc = plan.docs[unit.doc];
  for (int64_t b = unit.b0; b < unit.b1; ++b) {
    const int64_t i0 = doc.q0 + b * p.block_q, i1 = std::min(doc.q1, i0 + p.block_q);
    if (head_average(p, doc, lse, i0, i1, keep_heads, s)) f(s);
  }
}

// v_ij = Abar_ij where above row i's threshold, else 0 (written into `v`, length w).
inline void threshold_row(const double* a, int64_t w, double tau, double* v) {
  for (int64_t c = 0; c < w; ++c) v[c] = a[c] > tau ? a[c] : 0.0;
}

inline double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}

// Column partials of every unit of document b, added in unit order into out[doc keys].
void reduce_columns(const Plan& plan, int64_t b, const std::vector<double>& partial, double* out) {
  const Doc& doc = plan.docs[b];
  const int64_t len = doc.k1 - doc.k0;
  std::fill(out, out + len, 0.0);
  for (int64_t u = plan.first_unit[b]; u < plan.first_unit[b + 1]; ++u) {
    const double* src = partial.data() + plan.units[u].col_offset;
    for (int64_t j = 0; j < len; ++j) out[j] += src[j];
  }
}

template <typename T>
double forward_mean(const AttentionProblem<T>& p, const Plan& plan, const T* lse,
                    const AdlKernelOptions& o, AdlSaved& sv) {
  const int64_t nu_units = static_cast<int64_t>(plan.units.size());
  std::vector<double> partial(plan.partial_cols, 0.0), unit_value(nu_units, 0.0),
      unit_on(nu_units, 0.0);
  // Pass 1: the column sums of Abar (the mean row) and the row norms of v.
  parallel_tasks(nu_units, [&](int64_t t) {
    const Unit& unit = plan.units[t];
    const Doc& doc = plan.docs[unit.doc];
    double* col = partial.data() + unit.col_offset;
    std::vector<double> v;
    for_each_strip(p, plan, unit, lse, false, [&](Strip<T>& s) {
      v.resize(s.w);
      for (int64_t r = 0; r < s.bq; ++r) {
        const double* a = s.abar.data() + r * s.w;
        for (int64_t c = 0; c < s.w; ++c) col[s.lo + c] += a[c];
        threshold_row(a, s.w, row_threshold(p, plan, doc, s.i0 + r, o.theta), v.data());
        sv.norm[s.i0 + r] = std::sqrt(dot(v.data(), v.data(), s.w));
      }
    });
  });
  for (int64_t b = 0; b < p.docs; ++b) {
    const Doc& doc = plan.docs[b];
    const int64_t len = doc.k1 - doc.k0;
    double* u = sv.col.data() + doc.k0;
    reduce_columns(plan, b, partial, u);
    const double tau = o.theta / static_cast<double>(std::max<int64_t>(len, 1));
    for (int64_t j = 0; j < len; ++j) {
      u[j] /= static_cast<double>(len);
      if (!(u[j] > tau)) u[j] = 0.0;
    }
    sv.doc_nu[b] = std::sqrt(dot(u, u, len));
  }
  // Pass 2: the cosines, and the column weights w_j = sum_i v_ij / max(|u||v_i|, eps) that the
  // gradient through the mean row needs.
  std::fill(partial.begin(), partial.end(), 0.0);
  parallel_tasks(nu_units, [&](int64_t t) {
    const Unit& unit = plan.units[t];
    const Doc& doc = plan.docs[unit.doc];
    const double nu = sv.doc_nu[unit.doc];
    double* col = partial.data() + unit.col_offset;
    std::vector<double> v;
    for_each_strip(p, plan, unit, lse, false, [&](Strip<T>& s) {
      v.resize(s.w);
      const double* u = sv.col.data() + doc.k0 + s.lo;
      for (int64_t r = 0; r < s.bq; ++r) {
        const int64_t i = s.i0 + r;
        threshold_row(s.abar.data() + r * s.w, s.w, row_threshold(p, plan, doc, i, o.theta),
                      v.data());
        const double den = nu * sv.norm[i];
        const double c = dot(u, v.data(), s.w) / std::max(den, o.eps);
        const double inv_den = den > o.eps ? 1.0 / den : 1.0 / o.eps;
        for (int64_t k = 0; k < s.w; ++k) col[s.lo + k] += v[k] * inv_den;
        sv.cosine[i] = c;
        unit_value[t] += c;
        if (den > o.eps) unit_on[t] += c;
      }
    });
  });
  double total = 0;
  for (int64_t b = 0; b < p.docs; ++b) {
    reduce_columns(plan, b, partial, sv.col_w.data() + plan.docs[b].k0);
    sv.doc_on[b] = 0;
    for (int64_t u = plan.first_unit[b]; u < plan.first_unit[b + 1]; ++u) {
      sv.doc_on[b] += unit_on[u];
      total += unit_value[u];
    }
  }
  return total;
}

template <typename T>
double forward_pairwise(const AttentionProblem<T>& p, const Plan& plan, const T* lse,
                        const AdlKernelOptions& o, AdlSaved& sv) {
  const int64_t nu_units = static_cast<int64_t>(plan.units.size());
  std::vector<double> partial(plan.partial_cols, 0.0), unit_self(nu_units, 0.0);
  parallel_tasks(nu_units, [&](int64_t t) {
    const Unit& unit = plan.units[t];
    const Doc& doc = plan.docs[unit.doc];
    double* col = partial.data() + unit.col_offset;
    std::vector<double> v;
    for_each_strip(p, plan, unit, lse, false, [&](Strip<T>& s) {
      v.resize(s.w);
      for (int64_t r = 0; r < s.bq; ++r) {
        const int64_t i = s.i0 + r;
        threshold_row(s.abar.data() + r * s.w, s.w, row_threshold(p, plan, doc, i, o.theta),
                      v.data());
        sv.norm[i] = std::sqrt(dot(v.data(), v.data(), s.w));
        const double inv = 1.0 / std::max(sv.norm[i], o.eps);
        double self = 0;
        for (int64_t k = 0; k < s.w; ++k) {
          const double vhat = v[k] * inv;
          col[s.lo + k] += vhat;
          self += vhat * vhat;
        }
        unit_self[t] += self;
      }
    });
  });
  double total = 0;
  for (int64_t b = 0; b < p.docs; ++b) {
    const Doc& doc = plan.docs[b];
    const int64_t len = doc.k1 - doc.k0;
    double* s = sv.col.data() + doc.k0;
    reduce_columns(plan, b, partial, s);
    if (len < 2) continue;
    double self = 0;
    for (int64_t u = plan.first_unit[b]; u < plan.first_unit[b + 1]; ++u) self += unit_self[u];
    total += (dot(s, s, len) - self) / static_cast<double>(len - 1);
  }
  return total;
}

// dAbar [bq, w] of one strip (times g), from the statistics of the forward.
template <typename T>
void strip_gradient(const AttentionProblem<T>& p, const Plan& plan, const Doc& doc, int64_t b,
                    const AdlKernelOptions& o, const AdlSaved& sv, double g, const Strip<T>& s,
                    std::vector<double>& dabar) {
  const int64_t len = doc.k1 - doc.k0;
  dabar.assign(s.bq * s.w, 0.0);
  std::vector<double> v(s.w);
  const double* col = sv.col.data() + doc.k0 + s.lo;
  if (o.pairwise) {
    const double cc = 2.0 * g / static_cast<double>(len - 1);
    for (int64_t r = 0; r < s.bq; ++r) {
      const int64_t i = s.i0 + r;
      threshold_row(s.abar.data() + r * s.w, s.w, row_threshold(p, plan, doc, i, o.theta),
                    v.data());
      const double norm = sv.norm[i], inv = 1.0 / std::max(norm, o.eps);
      double along = 0;  // <dL/dvhat_i, vhat_i>
      for (int64_t c = 0; c < s.w; ++c) along += cc * (col[c] - v[c] * inv) * v[c] * inv;
      double* d = dabar.data() + r * s.w;
      for (int64_t c = 0; c < s.w; ++c) {
        if (v[c] == 0.0) continue;
        const double vhat = v[c] * inv, gh = cc * (col[c] - vhat);
        d[c] = norm > o.eps ? (gh - vhat * along) / norm : gh / o.eps;
      }
    }
    return;
  }
  // Mean form. Through the mean row: every visible Abar_ij gets du_j / N where u_j is on, with
  // du_j = g (w_j - u_j / |u|^2 sum_{i on} cos_i); invisible entries have P = 0 and drop out.
  const double nu = sv.doc_nu[b], on = sv.doc_on[b];
  const double* w = sv.col_w.data() + doc.k0 + s.lo;
  std::vector<double> du(s.w);
  for (int64_t c = 0; c < s.w; ++c)
    du[c] = col[c] != 0.0
                ? g * (w[c] - (nu > 0 ? col[c] / (nu * nu) * on : 0.0)) / static_cast<double>(len)
                : 0.0;
  for (int64_t r = 0; r < s.bq; ++r) {
    const int64_t i = s.i0 + r;
    threshold_row(s.abar.data() + r * s.w, s.w, row_threshold(p, plan, doc, i, o.theta), v.data());
    const double norm = sv.norm[i], den = nu * norm, cos = sv.cosine[i];
    double* d = dabar.data() + r * s.w;
    for (int64_t c = 0; c < s.w; ++c) {
      double dv = 0;
      if (v[c] != 0.0)
        dv = den > o.eps ? g * (col[c] / den - cos * v[c] / (norm * norm)) : g * col[c] / o.eps;
      d[c] = dv + du[c];
    }
  }
}

}  // namespace

template <typename T>
double adl_forward(const AttentionProblem<T>& p, const T* lse, const AdlKernelOptions& o,
                   AdlSaved& saved) {
  const Plan plan = make_plan(p);
  const int64_t tq = p.cu_q[p.docs], tk = p.cu_k[p.docs];
  saved.col.assign(tk, 0.0);
  saved.col_w.assign(o.pairwise ? 0 : tk, 0.0);
  saved.norm.assign(tq, 0.0);
  saved.cosine.assign(o.pairwise ? 0 : tq, 0.0);
  saved.doc_nu.assign(p.docs, 0.0);
  saved.doc_on.assign(p.docs, 0.0);
  return o.pairwise ? forward_pairwise(p, plan, lse, o, saved)
                    : forward_mean(p, plan, lse, o, saved);
}

template <typename T>
void adl_backward(const AttentionProblem<T>& p, const T* lse, const AdlKernelOptions& o,
                  const AdlSaved& saved, double g, T* dq, T* dk, T* dsink) {
  const Plan plan = make_plan(p);
  const int64_t H = p.heads, group = p.heads / p.kv_heads, d = p.d, kvd = p.kv_heads * p.d;
  const int64_t nu_units = static_cast<int64_t>(plan.units.size());
  // Each unit's dk rows (its document's keys) and dsink are partials, added in unit order.
  std::vector<T> dk_part(dk ? plan.partial_cols * kvd : 0, T(0));
  std::vector<double> dz_part(dsink ? nu_units * H : 0, 0.0);
  parallel_tasks(nu_units, [&](int64_t t) {
    const Unit& unit = plan.units[t];
    const Doc& doc = plan.docs[unit.doc];
    if (o.pairwise && doc.k1 - doc.k0 < 2) return;
    std::vector<double> dabar;
    for_each_strip(p, plan, unit, lse, true, [&](Strip<T>& s) {
      strip_gradient(p, plan, doc, unit.doc, o, saved, g, s, dabar);
      for (int64_t h = 0; h < H; ++h) {
        T* pr = s.head(h);  // becomes dS_h = P_h (dAbar / H - D_h) in place
        for (int64_t r = 0; r < s.bq; ++r) {
          T* pp = pr + r * s.w;
          const double* da = dabar.data() + r * s.w;
          double D = 0;
          for (int64_t c = 0; c < s.w; ++c) D += static_cast<double>(pp[c]) * da[c];
          D /= static_cast<double>(H);
          if (dsink && p.sink) {
            const int64_t row = (s.i0 + r) * H + h;
            dz_part[t * H + h] -= std::exp(static_cast<double>(p.sink[h] - lse[row])) * D;
          }
          for (int64_t c = 0; c < s.w; ++c)
            pp[c] =
                static_cast<T>(static_cast<double>(pp[c]) * (da[c] / static_cast<double>(H) - D));
        }
        const int64_t gk = h / group;
        if (dq)
          gemm_strided<T>(false, false, s.bq, d, s.w, p.scale, pr, s.w,
                          p.k + ((doc.k0 + s.lo) * p.kv_heads + gk) * d, kvd, T(1),
                          dq + (s.i0 * H + h) * d, H * d);
        if (dk)
          gemm_strided<T>(true, false, s.w, d, s.bq, p.scale, pr, s.w, p.q + (s.i0 * H + h) * d,
                          H * d, T(1), dk_part.data() + (unit.col_offset + s.lo) * kvd + gk * d,
                          kvd);
      }
    });
  });
  for (int64_t b = 0; b < p.docs; ++b) {
    const Doc& doc = plan.docs[b];
    for (int64_t u = plan.first_unit[b]; u < plan.first_unit[b + 1]; ++u) {
      if (dk) {
        const T* src = dk_part.data() + plan.units[u].col_offset * kvd;
        T* dst = dk + doc.k0 * kvd;
        for (int64_t e = 0; e < (doc.k1 - doc.k0) * kvd; ++e) dst[e] += src[e];
      }
    }
  }
  if (dsink && p.sink)
    for (int64_t h = 0; h < H; ++h) {
      double dz = 0;
      for (int64_t u = 0; u < nu_units; ++u) dz += dz_part[u * H + h];
      dsink[h] += static_cast<T>(dz);
    }
}

#define ATTN_INSTANTIATE(T)                                                                     \
  template double adl_forward<T>(const AttentionProblem<T>&, const T*, const AdlKernelOptions&, \
                                 AdlSaved&);                                                    \
  template void adl_backward<T>(const AttentionProblem<T>&, const T*, const AdlKernelOptions&,  \
                                const AdlSaved&, double, T*, T*, T*);
ATTN_INSTANTIATE(float)
ATTN_INSTANTIATE(double)
#undef ATTN_INSTANTIATE

}  // namespace attn::cpu
