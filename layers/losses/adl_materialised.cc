#include "layers/losses/adl_materialised.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/dispatch.h"
#include "framework/ops/transfer.h"
#include "layers/attention/row_intervals.h"

namespace attn {

namespace {

// The call's inputs on the host in double, with each row's visible key interval.
struct Problem {
  int64_t heads = 0, kv_heads = 0, d = 0;
  double scale = 1;
  std::vector<double> q, k, sink;
  std::vector<int32_t> cu, lo, hi;
  std::vector<uint8_t> valid;  // empty: every key valid

  bool visible(int64_t doc_start, int64_t t, int64_t j) const {
    return j >= lo[t] && j <= hi[t] && (valid.empty() || valid[doc_start + j]);
  }
  int64_t visible_keys(int64_t doc_start, int64_t t) const {
    int64_t n = 0;
    for (int64_t j = std::max<int64_t>(lo[t], 0); j <= hi[t]; ++j) n += visible(doc_start, t, j);
    return n;
  }
};

// Head h's probabilities of token t over the keys of its document [k0, k0 + len): P[j] (0 where
// not visible); returns the sink's probability (0 without a sink).
double row_probabilities(const Problem& p, int64_t k0, int64_t len, int64_t t, int64_t h,
                         std::vector<double>& P) {
  const int64_t g = h / (p.heads / p.kv_heads);
  const double* qt = p.q.data() + (t * p.heads + h) * p.d;
  double mx = p.sink.empty() ? -INFINITY : p.sink[h];
  for (int64_t j = 0; j < len; ++j) {
    P[j] = -INFINITY;
    if (!p.visible(k0, t, j)) continue;
    const double* kj = p.k.data() + ((k0 + j) * p.kv_heads + g) * p.d;
    double s = 0;
    for (int64_t c = 0; c < p.d; ++c) s += qt[c] * kj[c];
    P[j] = s * p.scale;
    mx = std::max(mx, P[j]);
  }
  if (mx == -INFINITY) {  // sees nothing
    std::fill(P.begin(), P.begin() + len, 0.0);
    return 0.0;
  }
  double sum = p.sink.empty() ? 0.0 : std::exp(p.sink[h] - mx);
  for (int64_t j = 0; j < len; ++j) sum += P[j] == -INFINITY ? 0.0 : std::exp(P[j] - mx);
  const double lse = mx + std::log(sum);
  for (int64_t j = 0; j < len; ++j) P[j] = P[j] == -INFINITY ? 0.0 : std::exp(P[j] - lse);
  return p.sink.empty() ? 0.0 : std::exp(p.sink[h] - lse);
}

// Abar [len, len] of one document: the mean over heads of each row's probabilities.
std::vector<double> head_average(const Problem& p, int64_t k0, int64_t len) {
  std::vector<double> abar(static_cast<size_t>(len * len), 0.0), P(static_cast<size_t>(len));
  for (int64_t h = 0; h < p.heads; ++h)
    for (int64_t i = 0; i < len; ++i) {
      row_probabilities(p, k0, len, k0 + i, h, P);
      for (int64_t j = 0; j < len; ++j) abar[i * len + j] += P[j] / static_cast<double>(p.heads);
    }
  return abar;
}

double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}

// One document's contribution (before the division by the batch's rows) and, when dabar is
// given, its gradient w.r.t. Abar scaled by g. Only visible entries of Abar are functions of P.
double document_loss(const Problem& p, int64_t k0, int64_t len, const std::vector<double>& abar,
                     const AdlOptions& o, double g, std::vector<double>* dabar) {
  std::vector<double> v(static_cast<size_t>(len * len), 0.0), norm(static_cast<size_t>(len));
  for (int64_t i = 0; i < len; ++i) {
    const int64_t keys = p.visible_keys(k0, k0 + i);
    const double tau = keys > 0 ? o.theta / static_cast<double>(keys) : INFINITY;
    for (int64_t j = 0; j < len; ++j) {
      const double a = abar[i * len + j];
      v[i * len + j] = p.visible(k0, k0 + i, j) && a > tau ? a : 0.0;
    }
    norm[i] = std::sqrt(dot(&v[i * len], &v[i * len], len));
  }
  std::vector<double> dv(dabar ? v.size() : 0, 0.0);
  double value = 0;
  if (o.pairwise) {
    if (len < 2) return 0.0;
    std::vector<double> s(static_cast<size_t>(len), 0.0), vhat(v.size());
    double self = 0;
    for (int64_t i = 0; i < len; ++i) {
      const double inv = 1.0 / std::max(norm[i], o.eps);
      for (int64_t j = 0; j < len; ++j) {
        vhat[i * len + j] = v[i * len + j] * inv;
        s[j] += vhat[i * len + j];
      }
      self += dot(&vhat[i * len], &vhat[i * len], len);
    }
    value = (dot(s.data(), s.data(), len) - self) / static_cast<double>(len - 1);
    if (dabar) {
      const double c = 2.0 * g / static_cast<double>(len - 1);
      std::vector<double> gh(static_cast<size_t>(len));
      for (int64_t i = 0; i < len; ++i) {
        for (int64_t j = 0; j < len; ++j) gh[j] = c * (s[j] - vhat[i * len + j]);
        if (norm[i] > o.eps) {
          const double along = dot(gh.data(), &vhat[i * len], len);
          for (int64_t j = 0; j < len; ++j)
            dv[i * len + j] = (gh[j] - vhat[i * len + j] * along) / norm[i];
        } else {
          for (int64_t j = 0; j < len; ++j) dv[i * len + j] = gh[j] / o.eps;
        }
      }
    }
  } else {
    std::vector<double> u(static_cast<size_t>(len), 0.0), du(static_cast<size_t>(len), 0.0);
    const double tau = o.theta / static_cast<double>(len);
    for (int64_t i = 0; i < len; ++i)
      for (int64_t j = 0; j < len; ++j) u[j] += abar[i * len + j] / static_cast<double>(len);
    std::vector<bool> u_on(static_cast<size_t>(len));
    for (int64_t j = 0; j < len; ++j) {
      u_on[j] = u[j] > tau;
      if (!u_on[j]) u[j] = 0.0;
    }
    const double nu = std::sqrt(dot(u.data(), u.data(), len));
    for (int64_t i = 0; i < len; ++i) {
      const double* vi = &v[i * len];
      const double den = nu * norm[i], uv = dot(u.data(), vi, len);
      const double c = uv / std::max(den, o.eps);
      value += c;
      if (!dabar) continue;
      for (int64_t j = 0; j < len; ++j) {
        if (den > o.eps) {
          dv[i * len + j] = g * (u[j] / den - c * vi[j] / (norm[i] * norm[i]));
          du[j] += g * (vi[j] / den - c * u[j] / (nu * nu));
        } else {
          dv[i * len + j] = g * u[j] / o.eps;
          du[j] += g * vi[j] / o.eps;
        }
      }
    }
    if (dabar)  // m_j = mean_i Abar_ij: every visible Abar_ij receives du_j / N
      for (int64_t i = 0; i < len; ++i)
        for (int64_t j = 0; j < len; ++j)
          if (u_on[j] && p.visible(k0, k0 + i, j))
            (*dabar)[i * len + j] += du[j] / static_cast<double>(len);
  }
  if (dabar)  // the thresholds are constants: v_ij passes dv_ij where it is on
    for (size_t e = 0; e < v.size(); ++e)
      if (v[e] != 0.0) (*dabar)[e] += dv[e];
  return value;
}

Problem make_problem(const Tensor& q, const Tensor& k, const Tensor& sink, const Tensor& cu,
                     const CoreAttentionOptions& options) {
  Problem p;
  p.heads = q.size(1), p.kv_heads = k.size(1), p.d = q.size(2);
  p.scale = options.scale > 0 ? options.scale : 1.0 / std::sqrt(static_cast<double>(p.d));
  p.q = q.to_vector<double>(), p.k = k.to_vector<double>();
  if (sink.defined()) p.sink = sink.to_vector<double>();
  p.cu = cu.to_vector<int32_t>();
  RowIntervals rows = row_intervals(options.mask, p.cu, p.cu);
  p.lo = rows.lo.to_vector<int32_t>(), p.hi = rows.hi.to_vector<int32_t>();
  p.valid = std::move(rows.valid);
  return p;
}

}  // namespace

Tensor adl_materialised(const Tensor& q, const Tensor& k, const Tensor& sink,
                        const Tensor& cu_seqlens, const CoreAttentionOptions& options,
                        const AdlOptions& adl) {
  if (q.device().is_cuda()) {
    const Device cpu = Device::cpu();
    return transfer(
        adl_materialised(transfer(q, cpu), transfer(k, cpu),
                         sink.defined() ? transfer(sink, cpu) : sink, cu_seqlens, options, adl),
        q.device());
  }
  ATTN_CHECK(q.ndim() == 3 && k.ndim() == 3 && q.size(0) == k.size(0) && q.size(2) == k.size(2) &&
                 k.size(1) > 0 && q.size(1) % k.size(1) == 0,
             "adl_materialised: q {}, k {}", q.str(), k.str());
  ATTN_CHECK(!sink.defined() || sink.numel() == q.size(1), "adl_materialised: sink {}", sink.str());
  const Problem p = make_problem(q, k, sink, cu_seqlens, options);
  const int64_t docs = static_cast<int64_t>(p.cu.size()) - 1, rows = q.size(0);
  for (int64_t b = 0; b < docs; ++b)
    if (p.cu[b + 1] - p.cu[b] > kAdlMaterialisedMaxLen)
      ATTN_FAIL(kConfig,
                "ADL: document {} has {} tokens; the materialising path takes up to {} "
                "(it stores the head-averaged T x T probabilities)",
                b, p.cu[b + 1] - p.cu[b], kAdlMaterialisedMaxLen);
  // Documents are independent: each one's value lands in its own slot, summed in order.
  std::vector<double> per_doc(static_cast<size_t>(docs), 0.0);
#pragma omp parallel for schedule(dynamic)
  for (int64_t b = 0; b < docs; ++b) {
    const int64_t k0 = p.cu[b], len = p.cu[b + 1] - k0;
    per_doc[b] = document_loss(p, k0, len, head_average(p, k0, len), adl, 0.0, nullptr);
  }
  double total = 0;
  for (double v : per_doc) total += v;
  const double value = rows > 0 ? total / static_cast<double>(rows) : 0.0;
  Tensor y = Tensor::full({}, value, q.dtype(), q.device());
  if (!needs_grad({q, k, sink})) return y;
  record("adl_materialised", {y}, [p, q, k, sink, y, adl, docs, rows] {
    const double g = y.grad().item() / static_cast<double>(rows);
    std::vector<double> dq(p.q.size(), 0.0), dk(p.k.size(), 0.0);
    std::vector<std::vector<double>> dsink(static_cast<size_t>(docs),
                                           std::vector<double>(p.sink.size(), 0.0));
#pragma omp parallel for schedule(dynamic)
    for (int64_t b = 0; b < docs; ++b) {
      const int64_t k0 = p.cu[b], len = p.cu[b + 1] - k0;
      std::vector<double> dabar(static_cast<size_t>(len * len), 0.0), P(static_cast<size_t>(len));
      document_loss(p, k0, len, head_average(p, k0, len), adl, g, &dabar);
      const int64_t group = p.heads / p.kv_heads;
      for (int64_t h = 0; h < p.heads; ++h)
        for (int64_t i = 0; i < len; ++i) {
          const int64_t t = k0 + i;
          const double p_sink = row_probabilities(p, k0, len, t, h, P);
          // dP_ij = dAbar_ij / H on the keys; the sink column's dP is 0.
          double D = 0;
          for (int64_t j = 0; j < len; ++j) D += P[j] * dabar[i * len + j] / p.heads;
          if (!p.sink.empty()) dsink[b][h] -= p_sink * D;
          double* dqt = dq.data() + (t * p.heads + h) * p.d;
          const double* qt = p.q.data() + (t * p.heads + h) * p.d;
          for (int64_t j = 0; j < len; ++j) {
            if (P[j] == 0.0) continue;
            const double dS = P[j] * (dabar[i * len + j] / p.heads - D) * p.scale;
            const int64_t kj = ((k0 + j) * p.kv_heads + h / group) * p.d;
            for (int64_t c = 0; c < p.d; ++c) {
              dqt[c] += dS * p.k[kj + c];
              dk[kj + c] += dS * qt[c];
            }
          }
        }
    }
    auto accumulate = [](const Tensor& input, const std::vector<double>& grad) {
      Tensor target = grad_target(input);
      if (!target.defined()) return;
      detail::dispatch_float(target, "adl_materialised", [&](auto tag) {
        using T = decltype(tag);
        T* out = target.data<T>();
        for (size_t i = 0; i < grad.size(); ++i) out[i] += static_cast<T>(grad[i]);
      });
    };
    accumulate(q, dq);
    accumulate(k, dk);
    if (sink.defined()) {
      std::vector<double> ds(p.sink.size(), 0.0);
      for (const auto& part : dsink)
        for (size_t h = 0; h < ds.size(); ++h) ds[h] += part[h];
      accumulate(sink, ds);
    }
  });
  return y;
}

}  // namespace attn
