#include "layers/attention/core_attention_reference.h"

#include <cmath>
#include <limits>

namespace attn {

namespace {

// Visibility of key j by query i (document-local indices) straight from the definitions.
bool sees(const AttentionMask& m, int64_t i, int64_t j, int64_t qlen, int64_t klen,
          const std::vector<int32_t>& seg, const std::vector<int32_t>& kinds, int64_t q0) {
  switch (m.kind) {
    case MaskKind::kCausal:
      return j <= i + (klen - qlen);
    case MaskKind::kFull:
      return true;
    case MaskKind::kSegment: {
      const int32_t ri = seg[q0 + i], rj = seg[q0 + j];
      const auto ki = static_cast<SegmentKind>(kinds[ri]);
      const auto kj = static_cast<SegmentKind>(kinds[rj]);
      if (ki == SegmentKind::kPadding || kj == SegmentKind::kPadding) return false;
      if (rj < ri) return true;
      if (rj > ri) return false;
      return ki == SegmentKind::kContext || j <= i;
    }
  }
  return false;
}

}  // namespace

ReferenceAttention reference_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                       const Tensor& cu_seqlens_q, const Tensor& cu_seqlens_k,
                                       const Tensor& sink, const CoreAttentionOptions& options,
                                       const Tensor& dout, const Tensor& entropy_grad) {
  const int64_t tq = q.size(0), H = q.size(1), d = q.size(2);
  const int64_t tk = k.size(0), Hkv = k.size(1), dv = v.size(2), group = H / Hkv;
  const std::vector<double> Q = q.to_vector<double>(), K = k.to_vector<double>(),
                            V = v.to_vector<double>();
  const std::vector<double> Z = sink.defined() ? sink.to_vector<double>() : std::vector<double>();
  const std::vector<double> dO = dout.defined() ? dout.to_vector<double>() : std::vector<double>();
  const std::vector<double> gH =
      entropy_grad.defined() ? entropy_grad.to_vector<double>() : std::vector<double>();
  const std::vector<int32_t> cq = cu_seqlens_q.to_vector<int32_t>();
  const std::vector<int32_t> ck = cu_seqlens_k.to_vector<int32_t>();
  const AttentionMask& mask = options.mask;
  std::vector<int32_t> seg, kinds;
  if (mask.kind == MaskKind::kSegment) {
    seg = mask.segment_ids.to_vector<int32_t>();
    kinds = mask.segment_kinds.to_vector<int32_t>();
  }
  const std::vector<double> row_w = options.stats.key_mass_row_weights.defined()
                                        ? options.stats.key_mass_row_weights.to_vector<double>()
                                        : std::vector<double>();
  const double scale = options.scale > 0 ? options.scale : 1.0 / std::sqrt(double(d));
  const double inf = std::numeric_limits<double>::infinity();

  ReferenceAttention r;
  r.out.assign(tq * H * dv, 0);
  for (auto* s : {&r.lse, &r.entropy, &r.entropy_normalized, &r.prob_sq_sum, &r.first_token_mass})
    s->assign(tq * H, 0);
  r.key_mass.assign(tk * H, 0);
  r.dq.assign(Q.size(), 0), r.dk.assign(K.size(), 0), r.dv.assign(V.size(), 0);
  r.dsink.assign(H, 0);

  for (size_t b = 0; b + 1 < cq.size(); ++b) {
    const int64_t q0 = cq[b], qlen = cq[b + 1] - q0, k0 = ck[b], klen = ck[b + 1] - k0;
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h / group;
      for (int64_t i = 0; i < qlen; ++i) {
        const int64_t row = (q0 + i) * H + h;
        // Visible keys, with the sliding window applied to the last visible one.
        std::vector<char> vis(klen, 0);
        int64_t last = -1;
        for (int64_t j = 0; j < klen; ++j)
          if (sees(mask, i, j, qlen, klen, seg, kinds, q0)) vis[j] = 1, last = j;
        if (mask.window > 0)
          for (int64_t j = 0; j < klen; ++j)
            if (j < last - mask.window + 1) vis[j] = 0;
        std::vector<double> S(klen, -inf), P(klen, 0);
        int64_t n = 0;
        double mx = -inf;
        for (int64_t j = 0; j < klen; ++j) {
          if (!vis[j]) continue;
          double s = 0;
          for (int64_t c = 0; c < d; ++c) s += Q[row * d + c] * K[((k0 + j) * Hkv + g) * d + c];
          S[j] = scale * s;
          mx = std::max(mx, S[j]);
          ++n;
        }
        if (n == 0) {
          r.lse[row] = inf;
          continue;  // zero output, zero statistics, zero gradients
        }
        double sum = 0;
        for (int64_t j = 0; j < klen; ++j) sum += vis[j] ? std::exp(S[j] - mx) : 0.0;
        double lse = mx + std::log(sum), p_sink = 0, z = 0;
        if (!Z.empty()) {
          z = Z[h];
          double m2 = std::max(lse, z);
          lse = m2 + std::log(std::exp(lse - m2) + std::exp(z - m2));
          p_sink = std::exp(z - lse);
        }
        r.lse[row] = lse;
        double ent = p_sink > 0 ? -p_sink * std::log(p_sink) : 0.0, sq = p_sink * p_sink;
        for (int64_t j = 0; j < klen; ++j) {
          if (!vis[j]) continue;
          P[j] = std::exp(S[j] - lse);
          if (P[j] > 0) ent -= P[j] * (S[j] - lse);
          sq += P[j] * P[j];
          for (int64_t c = 0; c < dv; ++c)
            r.out[row * dv + c] += P[j] * V[((k0 + j) * Hkv + g) * dv + c];
          r.key_mass[(k0 + j) * H + h] += (row_w.empty() ? 1.0 : row_w[row]) * P[j];
        }
        const int64_t cols = n + (Z.empty() ? 0 : 1);
        r.entropy[row] = ent;
        r.entropy_normalized[row] = cols >= 2 ? ent / std::log(double(cols)) : 0.0;
        r.prob_sq_sum[row] = sq;
        r.first_token_mass[row] = P[0];
        if (dO.empty()) continue;
        // Backward from the definitions: dV = P^T dO, dP = dO V^T, dS = P (dP - D) (+ entropy).
        double D = 0;
        for (int64_t c = 0; c < dv; ++c) D += dO[row * dv + c] * r.out[row * dv + c];
        r.dsink[h] -= p_sink * D;
        // The sink is a column of the row's distribution: dH/dz = -p_sink (log p_sink + H).
        if (!gH.empty() && p_sink > 0) r.dsink[h] -= gH[row] * p_sink * (z - lse + ent);
        for (int64_t j = 0; j < klen; ++j) {
          if (!vis[j]) continue;
          double dP = 0;
          for (int64_t c = 0; c < dv; ++c) {
            dP += dO[row * dv + c] * V[((k0 + j) * Hkv + g) * dv + c];
            r.dv[((k0 + j) * Hkv + g) * dv + c] += P[j] * dO[row * dv + c];
          }
          double dS = P[j] * (dP - D);
          if (!gH.empty()) dS -= gH[row] * P[j] * (S[j] - lse + ent);
          for (int64_t c = 0; c < d; ++c) {
            r.dq[row * d + c] += scale * dS * K[((k0 + j) * Hkv + g) * d + c];
            r.dk[((k0 + j) * Hkv + g) * d + c] += scale * dS * Q[row * d + c];
          }
        }
      }
    }
  }
  return r;
}

}  // namespace attn
