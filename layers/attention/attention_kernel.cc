#include "layers/attention/attention_kernel.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "framework/core/threads.h"
#include "framework/kernels/cpu/fast_math.h"
#include "framework/kernels/cpu/gemm.h"
#include "layers/attention/attention_tiles.h"

namespace attn::cpu {

namespace {

// Per-thread working memory of one query block, reused across tasks and calls.
template <typename T>
struct ForwardScratch {
  std::vector<T> s, acc, m, l, es, e2, s0;
  void resize(int64_t bq, int64_t bk, int64_t dv) {
    s.resize(bq * bk);
    acc.resize(bq * dv);
    for (auto* v : {&m, &l, &es, &e2, &s0}) v->resize(bq);
  }
};

template <typename T>
void forward_block(const AttentionProblem<T>& p, const Doc& doc, int64_t h, int64_t i0, int64_t i1,
                   T* out, T* lse, const AttentionForwardStats<T>& st,
                   const std::vector<int64_t>& valid_prefix, ForwardScratch<T>& w) {
  const int64_t g = h / (p.heads / p.kv_heads), bq = i1 - i0, dv = p.dv;
  const bool want_entropy = st.entropy || st.entropy_normalized;
  std::fill(w.m.begin(), w.m.begin() + bq, kNegInf<T>);
  for (auto* v : {&w.l, &w.es, &w.e2}) std::fill(v->begin(), v->begin() + bq, T(0));
  std::fill(w.s0.begin(), w.s0.begin() + bq, kNegInf<T>);
  std::fill(w.acc.begin(), w.acc.begin() + bq * dv, T(0));
  int64_t lo, hi;
  rows_key_range(p, i0, i1, lo, hi);
  for (int64_t jb = first_key_block(lo, p.block_k); jb <= hi; jb += p.block_k) {
    const int64_t j0 = doc.k0 + jb, j1 = doc.k0 + std::min(hi + 1, jb + p.block_k), nk = j1 - j0;
    T* s = w.s.data();
    if (!tile_scores(p, doc, h, g, i0, i1, j0, j1, s)) continue;
    for (int64_t r = 0; r < bq; ++r) {
      T* sr = s + r * nk;
      if (jb == 0) w.s0[r] = sr[0];
      T mb = kNegInf<T>;
#pragma omp simd reduction(max : mb)
      for (int64_t c = 0; c < nk; ++c) mb = std::max(mb, sr[c]);
      if (mb == kNegInf<T>) {  // nothing visible in this tile: P row is 0
        std::fill(sr, sr + nk, T(0));
        continue;
      }
      const T m_new = std::max(w.m[r], mb);
      const T alpha = std::exp(w.m[r] - m_new);  // 0 on the first visible tile
      T sum = 0, es = 0, e2 = 0;
      if (want_entropy || st.prob_sq_sum) {
#pragma omp simd reduction(+ : sum, es, e2)
        for (int64_t c = 0; c < nk; ++c) {
          const T pr = fast_exp(sr[c] - m_new);
          es += pr > 0 ? pr * sr[c] : T(0);  // masked entries (-inf) must not form 0 * -inf
          e2 += pr * pr;
          sum += pr;
          sr[c] = pr;
        }
      } else {
#pragma omp simd reduction(+ : sum)
        for (int64_t c = 0; c < nk; ++c) {
          sr[c] = fast_exp(sr[c] - m_new);
          sum += sr[c];
        }
      }
      w.l[r] = w.l[r] * alpha + sum;
      w.es[r] = w.es[r] * alpha + es;
      w.e2[r] = w.e2[r] * alpha * alpha + e2;
      w.m[r] = m_new;
      if (alpha != T(1)) {
        T* ar = w.acc.data() + r * dv;
#pragma omp simd
        for (int64_t c = 0; c < dv; ++c) ar[c] *= alpha;
      }
    }
    gemm_strided<T>(false, false, bq, dv, nk, T(1), s, nk, p.v + (j0 * p.kv_heads + g) * dv,
                    p.kv_heads * dv, T(1), w.acc.data(), dv);
  }
  // Normalise, fold in the sink, and finish the statistics.
  for (int64_t r = 0; r < bq; ++r) {
    const int64_t i = i0 + r, row = i * p.heads + h;
    T* o = out + row * dv;
    if (w.l[r] == T(0)) {  // the row sees nothing: zero output, lse = +inf => zero gradients
      std::fill(o, o + dv, T(0));
      lse[row] = kInf<T>;
      for (T* stat : {st.entropy, st.entropy_normalized, st.prob_sq_sum, st.first_token_mass})
        if (stat) stat[row] = 0;
      continue;
    }
    const T base_lse = w.m[r] + std::log(w.l[r]);
    T keep = 1, p_sink = 0, z = 0, row_lse = base_lse;
    if (p.sink) {
      z = p.sink[h];
      p_sink = T(1) / (T(1) + std::exp(base_lse - z));
      keep = T(1) - p_sink;
      row_lse = std::max(base_lse, z) + std::log1p(std::exp(-std::fabs(base_lse - z)));
    }
    const T scale_out = keep / w.l[r];
    const T* ar = w.acc.data() + r * dv;
    for (int64_t c = 0; c < dv; ++c) o[c] = ar[c] * scale_out;
    lse[row] = row_lse;
    if (want_entropy) {
      // H = lse - E[S], with the sink column (score z) included when present.
      const T expected_score = w.es[r] / w.l[r];
      const T ent = row_lse - keep * expected_score - p_sink * z;
      if (st.entropy) st.entropy[row] = ent;
      if (st.entropy_normalized) {
        const int64_t lo_i = p.row_lo[i], hi_i = p.row_hi[i];
        int64_t n = p.key_valid ? valid_prefix[doc.k0 + hi_i + 1] - valid_prefix[doc.k0 + lo_i]
                                : hi_i - lo_i + 1;
        n += p.sink ? 1 : 0;
        st.entropy_normalized[row] = n >= 2 ? ent / std::log(T(n)) : T(0);
      }
    }
    if (st.prob_sq_sum)
      st.prob_sq_sum[row] = keep * keep * w.e2[r] / (w.l[r] * w.l[r]) + p_sink * p_sink;
    if (st.first_token_mass)
      st.first_token_mass[row] = w.s0[r] == kNegInf<T> ? T(0) : keep * std::exp(w.s0[r] - base_lse);
  }
}

// (doc, head, query block) units of the forward; their costs differ, so they run dynamically.
struct RowTask {
  int64_t doc, head, i0, i1;
};

template <typename T>
std::vector<RowTask> row_tasks(const AttentionProblem<T>& p, const std::vector<Doc>& docs) {
  std::vector<RowTask> tasks;
  for (int64_t b = 0; b < static_cast<int64_t>(docs.size()); ++b)
    for (int64_t h = 0; h < p.heads; ++h)
      for (int64_t i0 = docs[b].q0; i0 < docs[b].q1; i0 += p.block_q)
        tasks.push_back({b, h, i0, std::min(docs[b].q1, i0 + p.block_q)});
  return tasks;
}

}  // namespace

template <typename T>
void attention_forward(const AttentionProblem<T>& p, T* out, T* lse,
                       const AttentionForwardStats<T>& stats) {
  const std::vector<Doc> docs = documents(p.cu_q, p.cu_k, p.docs);
  std::vector<int64_t> valid_prefix;
  if (p.key_valid && stats.entropy_normalized) {
    const int64_t tk = p.cu_k[p.docs];
    valid_prefix.assign(tk + 1, 0);
    for (int64_t j = 0; j < tk; ++j) valid_prefix[j + 1] = valid_prefix[j] + (p.key_valid[j] != 0);
  }
  const std::vector<RowTask> tasks = row_tasks(p, docs);
  parallel_tasks(static_cast<int64_t>(tasks.size()), [&](int64_t t) {
    static thread_local ForwardScratch<T> w;
    w.resize(p.block_q, p.block_k, p.dv);
    const RowTask& task = tasks[t];
    forward_block(p, docs[task.doc], task.head, task.i0, task.i1, out, lse, stats, valid_prefix, w);
  });
}

namespace {

// (doc, head) units of the backward: a unit owns its rows of dq and its head's partial dk/dv,
// so units never write the same memory and the order inside a unit is fixed.
struct HeadTask {
  int64_t doc, head;
};

template <typename T>
struct BackwardScratch {
  std::vector<T> s, pr, dp, dk, dv, delta;
  void resize(int64_t bq, int64_t bk, int64_t d, int64_t dv_, int64_t rows) {
    s.resize(bq * bk);
    pr.resize(bq * bk);
    dp.resize(bq * bk);
    dk.resize(bk * d);
    dv.resize(bk * dv_);
    delta.resize(rows);
  }
};

// Calls f(i0, bq, j0, nk, P) for every scored tile of one (document, head), P [bq, nk] the
// recomputed probabilities: the passes that read P without a gradient (key mass, the row
// expectation of a key-mass gradient) share this loop.
template <typename T, typename F>
void for_each_probability_tile(const AttentionProblem<T>& p, const Doc& doc, int64_t h,
                               const T* lse, BackwardScratch<T>& w, F&& f) {
  const int64_t g = h / (p.heads / p.kv_heads);
  int64_t lo, hi;
  rows_key_range(p, doc.q0, doc.q1, lo, hi);
  for (int64_t jb = first_key_block(lo, p.block_k); jb <= hi; jb += p.block_k) {
    const int64_t j0 = doc.k0 + jb, j1 = doc.k0 + std::min(hi + 1, jb + p.block_k), nk = j1 - j0;
    for (int64_t i0 = doc.q0; i0 < doc.q1; i0 += p.block_q) {
      const int64_t i1 = std::min(doc.q1, i0 + p.block_q), bq = i1 - i0;
      if (!tile_scores(p, doc, h, g, i0, i1, j0, j1, w.s.data())) continue;
      tile_probabilities(w.s.data(), lse, i0, p.heads, h, bq, nk, w.pr.data());
      f(i0, bq, j0, nk, static_cast<const T*>(w.pr.data()));
    }
  }
}

template <typename T>
T key_mass_weight(const AttentionBackwardExtras<T>& ex, int64_t row) {
  return ex.key_mass_row_weights ? ex.key_mass_row_weights[row] : T(1);
}

// dk_out/dv_out: where this head's key gradients go, with their row strides. Returns this
// document's contribution to the gradient of the head's sink logit.
template <typename T>
T backward_head(const AttentionProblem<T>& p, const Doc& doc, int64_t h, const T* out, const T* lse,
                const T* dout, T* dq, T* dk_out, int64_t dk_ld, T* dv_out, int64_t dv_ld,
                const AttentionBackwardExtras<T>& ex, BackwardScratch<T>& w) {
  const int64_t g = h / (p.heads / p.kv_heads), d = p.d, dv = p.dv, H = p.heads;
  const int64_t rows = doc.q1 - doc.q0;
  // D_i = sum_j P_ij dP_ij = <dO_i, O_i> + w_i sum_j P_ij g_j, the second term from a key-mass
  // gradient (dP_extra_ij = w_i g_j), which needs one pass over the row's probabilities first.
  // The sink's gradient needs D too.
  if (ex.key_mass_grad) {
    std::fill(w.delta.begin(), w.delta.begin() + rows, T(0));
    for_each_probability_tile(p, doc, h, lse, w,
                              [&](int64_t i0, int64_t bq, int64_t j0, int64_t nk, const T* pr) {
                                for (int64_t r = 0; r < bq; ++r) {
                                  T e = 0;
                                  for (int64_t c = 0; c < nk; ++c)
                                    e += pr[r * nk + c] * ex.key_mass_grad[(j0 + c) * H + h];
                                  w.delta[i0 - doc.q0 + r] += e;
                                }
                              });
    for (int64_t r = 0; r < rows; ++r) w.delta[r] *= key_mass_weight(ex, (doc.q0 + r) * H + h);
  }
  T dz = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t row = (doc.q0 + r) * H + h;
    T acc = 0;
    for (int64_t c = 0; c < dv; ++c) acc += dout[row * dv + c] * out[row * dv + c];
    w.delta[r] = ex.key_mass_grad ? w.delta[r] + acc : acc;
    if (!p.sink) continue;
    const T z = p.sink[h], p_sink = std::exp(z - lse[row]);  // exp(z - lse'); 0 if empty
    dz -= p_sink * w.delta[r];
    // The sink is one more softmax column: dH_i/dz = -p_sink (z - lse_i + H_i).
    if (ex.entropy_grad && p_sink > 0)
      dz -= ex.entropy_grad[row] * p_sink * (z - lse[row] + ex.entropy[row]);
  }
  int64_t lo, hi;
  rows_key_range(p, doc.q0, doc.q1, lo, hi);
  for (int64_t jb = first_key_block(lo, p.block_k); jb <= hi; jb += p.block_k) {
    const int64_t j0 = doc.k0 + jb, j1 = doc.k0 + std::min(hi + 1, jb + p.block_k), nk = j1 - j0;
    std::fill(w.dk.begin(), w.dk.begin() + nk * d, T(0));
    std::fill(w.dv.begin(), w.dv.begin() + nk * dv, T(0));
    bool touched = false;
    for (int64_t i0 = doc.q0; i0 < doc.q1; i0 += p.block_q) {
      const int64_t i1 = std::min(doc.q1, i0 + p.block_q), bq = i1 - i0;
      T* s = w.s.data();
      if (!tile_scores(p, doc, h, g, i0, i1, j0, j1, s)) continue;
      touched = true;
      T* pr = w.pr.data();
      tile_probabilities(s, lse, i0, H, h, bq, nk, pr);
      const T* dO = dout + (i0 * H + h) * dv;
      // dV += P^T dO;  dP = dO V^T
      gemm_strided<T>(true, false, nk, dv, bq, T(1), pr, nk, dO, H * dv, T(1), w.dv.data(), dv);
      T* dp = w.dp.data();
      gemm_strided<T>(false, true, bq, nk, dv, T(1), dO, H * dv, p.v + (j0 * p.kv_heads + g) * dv,
                      p.kv_heads * dv, T(0), dp, nk);
      // dS = P (dP + dP_extra - D) [+ w_i P (S - lse + H) for an entropy loss], in place of dP.
      for (int64_t r = 0; r < bq; ++r) {
        const int64_t row = (i0 + r) * H + h;
        const T delta = w.delta[i0 - doc.q0 + r];
        T* dpr = dp + r * nk;
        const T* ppr = pr + r * nk;
        if (ex.key_mass_grad) {
          const T wr = key_mass_weight(ex, row);
          const T* gk = ex.key_mass_grad + j0 * H + h;
          for (int64_t c = 0; c < nk; ++c) dpr[c] += wr * gk[c * H];
        }
#pragma omp simd
        for (int64_t c = 0; c < nk; ++c) dpr[c] = ppr[c] * (dpr[c] - delta);
        if (ex.entropy_grad && ex.entropy_grad[row] != T(0)) {
          // dH_i/dS_ij = -P_ij (S_ij - lse_i + H_i); masked entries have P = 0 and S = -inf.
          const T wgt = -ex.entropy_grad[row], shift = ex.entropy[row] - lse[row];
          const T* sr = s + r * nk;
          for (int64_t c = 0; c < nk; ++c)
            if (ppr[c] > 0) dpr[c] += wgt * ppr[c] * (sr[c] + shift);
        }
      }
      // dQ += scale dS K;  dK += scale dS^T Q
      if (dq)
        gemm_strided<T>(false, false, bq, d, nk, p.scale, dp, nk, p.k + (j0 * p.kv_heads + g) * d,
                        p.kv_heads * d, T(1), dq + (i0 * H + h) * d, H * d);
      gemm_strided<T>(true, false, nk, d, bq, p.scale, dp, nk, p.q + (i0 * H + h) * d, H * d, T(1),
                      w.dk.data(), d);
    }
    if (!touched) continue;
    for (int64_t j = 0; j < nk; ++j) {
      if (dk_out)
        for (int64_t c = 0; c < d; ++c) dk_out[(j0 + j) * dk_ld + c] += w.dk[j * d + c];
      if (dv_out)
        for (int64_t c = 0; c < dv; ++c) dv_out[(j0 + j) * dv_ld + c] += w.dv[j * dv + c];
    }
  }
  return dz;
}

}  // namespace

template <typename T>
void attention_backward(const AttentionProblem<T>& p, const T* out, const T* lse, const T* dout,
                        T* dq, T* dk, T* dv, T* dsink, const AttentionBackwardExtras<T>& extras) {
  const std::vector<Doc> docs = documents(p.cu_q, p.cu_k, p.docs);
  const int64_t tk = p.cu_k[p.docs], group = p.heads / p.kv_heads;
  // With GQA several query heads feed one kv head: each writes its own slice of a
  // [tokens_k, heads, *] buffer, summed over the group afterwards in head order.
  std::vector<T> dk_heads, dv_heads;
  if (group > 1) {
    if (dk) dk_heads.assign(tk * p.heads * p.d, T(0));
    if (dv) dv_heads.assign(tk * p.heads * p.dv, T(0));
  }
  std::vector<HeadTask> tasks;
  int64_t max_rows = 0;
  for (int64_t b = 0; b < p.docs; ++b) {
    max_rows = std::max(max_rows, docs[b].q1 - docs[b].q0);
    for (int64_t h = 0; h < p.heads; ++h) tasks.push_back({b, h});
  }
  // dsink is summed over documents: per-(doc, head) partials, added in order below.
  std::vector<T> dsink_parts(dsink ? tasks.size() : 0, T(0));
  parallel_tasks(static_cast<int64_t>(tasks.size()), [&](int64_t t) {
    static thread_local BackwardScratch<T> w;
    w.resize(p.block_q, p.block_k, p.d, p.dv, max_rows);
    const HeadTask& task = tasks[t];
    const int64_t h = task.head, g = h / group;
    T* dk_out = nullptr;
    T* dv_out = nullptr;
    int64_t dk_ld = 0, dv_ld = 0;
    if (group > 1) {
      if (dk) dk_out = dk_heads.data() + h * p.d, dk_ld = p.heads * p.d;
      if (dv) dv_out = dv_heads.data() + h * p.dv, dv_ld = p.heads * p.dv;
    } else {
      if (dk) dk_out = dk + g * p.d, dk_ld = p.kv_heads * p.d;
      if (dv) dv_out = dv + g * p.dv, dv_ld = p.kv_heads * p.dv;
    }
    T dz = backward_head(p, docs[task.doc], h, out, lse, dout, dq, dk_out, dk_ld, dv_out, dv_ld,
                         extras, w);
    if (dsink) dsink_parts[t] = dz;
  });
  if (dsink)
    for (size_t t = 0; t < tasks.size(); ++t) dsink[tasks[t].head] += dsink_parts[t];
  if (group == 1) return;
  auto reduce_group = [&](const std::vector<T>& parts, T* dst, int64_t width) {
    if (!dst) return;
    parallel_chunks(tk, 64, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j)
        for (int64_t h = 0; h < p.heads; ++h) {
          const T* src = parts.data() + (j * p.heads + h) * width;
          T* o = dst + (j * p.kv_heads + h / group) * width;
          for (int64_t c = 0; c < width; ++c) o[c] += src[c];
        }
    });
  };
  reduce_group(dk_heads, dk, p.d);
  reduce_group(dv_heads, dv, p.dv);
}

template <typename T>
void attention_key_mass(const AttentionProblem<T>& p, const T* lse, const T* row_weights,
                        T* key_mass) {
  const std::vector<Doc> docs = documents(p.cu_q, p.cu_k, p.docs);
  std::vector<HeadTask> tasks;
  for (int64_t b = 0; b < p.docs; ++b)
    for (int64_t h = 0; h < p.heads; ++h) tasks.push_back({b, h});
  parallel_tasks(static_cast<int64_t>(tasks.size()), [&](int64_t t) {
    static thread_local BackwardScratch<T> w;
    w.resize(p.block_q, p.block_k, p.d, p.dv, 0);
    const Doc& doc = docs[tasks[t].doc];
    const int64_t h = tasks[t].head;
    for (int64_t j = doc.k0; j < doc.k1; ++j) key_mass[j * p.heads + h] = 0;
    for_each_probability_tile(
        p, doc, h, lse, w, [&](int64_t i0, int64_t bq, int64_t j0, int64_t nk, const T* pr) {
          for (int64_t r = 0; r < bq; ++r) {
            const T wr = row_weights ? row_weights[(i0 + r) * p.heads + h] : T(1);
            for (int64_t c = 0; c < nk; ++c)
              key_mass[(j0 + c) * p.heads + h] += wr * pr[r * nk + c];
          }
        });
  });
}

#define ATTN_INSTANTIATE(T)                                                                     \
  template void attention_forward<T>(const AttentionProblem<T>&, T*, T*,                        \
                                     const AttentionForwardStats<T>&);                          \
  template void attention_backward<T>(const AttentionProblem<T>&, const T*, const T*, const T*, \
                                      T*, T*, T*, T*, const AttentionBackwardExtras<T>&);       \
  template void attention_key_mass<T>(const AttentionProblem<T>&, const T*, const T*, T*);
ATTN_INSTANTIATE(float)
ATTN_INSTANTIATE(double)
#undef ATTN_INSTANTIATE

}  // namespace attn::cpu
