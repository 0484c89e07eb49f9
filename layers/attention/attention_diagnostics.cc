#include "layers/attention/attention_diagnostics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "framework/core/error.h"

namespace attn {

namespace {

std::string layer_key(const std::string& stat, int layer) {
  return fmt::format("attn/{}/l{}", stat, layer);
}

std::string head_key(const std::string& stat, int layer, int head) {
  return fmt::format("attn/{}/l{}h{}", stat, layer, head);
}

double mean(const std::vector<double>& v) {
  if (v.empty()) return std::nan("");
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// One per-head statistic: its (layer, head) keys, the per-layer means and the mean over all.
void add_head_statistic(std::map<std::string, double>& out, const std::string& stat,
                        const std::map<std::pair<int, int>, double>& per_head) {
  if (per_head.empty()) return;
  std::map<int, std::vector<double>> layers;
  std::vector<double> all;
  for (const auto& [lh, v] : per_head) {
    out[head_key(stat, lh.first, lh.second)] = v;
    layers[lh.first].push_back(v);
    all.push_back(v);
  }
  for (const auto& [layer, v] : layers) out[layer_key(stat, layer)] = mean(v);
  out["attn/" + stat] = mean(all);
}

}  // namespace

void AttentionDiagnostics::record_maps(int layer, const Tensor& positions,
                                       const Tensor& first_token_mass, const Tensor& entropy,
                                       const Tensor& entropy_normalized) {
  const int64_t n = first_token_mass.size(0), heads = first_token_mass.size(1);
  ATTN_CHECK(positions.numel() == n && entropy.numel() == n * heads &&
                 entropy_normalized.numel() == n * heads,
             "record_maps: statistics must be [{}, {}]", n, heads);
  const std::vector<int32_t> pos = positions.to_vector<int32_t>();
  const std::vector<double> ftm = first_token_mass.to_vector<double>();
  const std::vector<double> ent = entropy.to_vector<double>();
  const std::vector<double> entn = entropy_normalized.to_vector<double>();
  const bool domain = !domain_.empty();
  ATTN_CHECK(!domain || static_cast<int64_t>(domain_.size()) == n,
             "record_maps: the query domain has {} rows, the layer {}", domain_.size(), n);
  for (int64_t h = 0; h < heads; ++h) {
    double s_ftm = 0, s_ent = 0, s_entn = 0, s_dom = 0;
    int64_t rows = 0, dom_rows = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (pos[i] < 1) continue;
      s_ftm += ftm[i * heads + h];
      s_ent += ent[i * heads + h];
      s_entn += entn[i * heads + h];
      ++rows;
      if (domain && domain_[i]) s_dom += ftm[i * heads + h], ++dom_rows;
    }
    if (rows == 0) continue;
    const double r = static_cast<double>(rows);
    heads_[{layer, static_cast<int>(h)}] = {s_ftm / r, s_ent / r, s_entn / r};
    if (dom_rows > 0) domain_mass_[{layer, static_cast<int>(h)}] = s_dom / dom_rows;
  }
}

void AttentionDiagnostics::set_query_domain(const Tensor& domain) {
  domain_ = domain.to_vector<int32_t>();
}

namespace {

// Mean L2 norm of the rows [tokens, ...] of x (groups of `width` values, `stride` apart,
// starting at `offset`) at document position 0, over the mean at all positions; NaN without
// a position-0 row or when every norm is 0.
double first_position_norm_ratio(const std::vector<double>& x, const std::vector<int32_t>& pos,
                                 int64_t stride, int64_t offset, int64_t width) {
  double first = 0, all = 0;
  int64_t firsts = 0;
  const int64_t n = static_cast<int64_t>(pos.size());
  for (int64_t i = 0; i < n; ++i) {
    double sq = 0;
    for (int64_t c = 0; c < width; ++c)
      sq += x[i * stride + offset + c] * x[i * stride + offset + c];
    const double norm = std::sqrt(sq);
    all += norm;
    if (pos[i] == 0) first += norm, ++firsts;
  }
  if (firsts == 0 || all <= 0) return std::nan("");
  return (first / static_cast<double>(firsts)) / (all / static_cast<double>(n));
}

}  // namespace

void AttentionDiagnostics::record_residual(int layer, const Tensor& positions, const Tensor& x) {
  ATTN_CHECK(x.ndim() == 2 && x.size(0) == positions.numel(),
             "record_residual: x [tokens, width] for {} positions, got {}", positions.numel(),
             x.str());
  const std::vector<double> v = x.to_vector<double>();
  double m = 0;
  for (double e : v) m = std::max(m, std::abs(e));
  max_activation_[layer] = m;
  const double peak =
      first_position_norm_ratio(v, positions.to_vector<int32_t>(), x.size(1), 0, x.size(1));
  if (std::isfinite(peak)) residual_peak_[layer] = peak;
}

void AttentionDiagnostics::record_value_states(int layer, const Tensor& positions,
                                               const Tensor& v) {
  if (focus_only_) return;
  ATTN_CHECK(v.ndim() == 3 && v.size(0) == positions.numel(),
             "record_value_states: v [tokens, kv_heads, d] for {} positions, got {}",
             positions.numel(), v.str());
  const std::vector<double> x = v.to_vector<double>();
  const std::vector<int32_t> pos = positions.to_vector<int32_t>();
  const int64_t heads = v.size(1), d = v.size(2);
  for (int64_t h = 0; h < heads; ++h) {
    const double drain = first_position_norm_ratio(x, pos, heads * d, h * d, d);
    if (std::isfinite(drain)) value_drain_[{layer, static_cast<int>(h)}] = drain;
  }
}

void AttentionDiagnostics::record_layer(const std::string& stat, int layer, double value) {
  values_[layer_key(stat, layer)] = value;
  per_layer_[stat].push_back(value);
}

void AttentionDiagnostics::record_heads(const std::string& stat, int layer,
                                        const std::vector<double>& per_head) {
  for (size_t h = 0; h < per_head.size(); ++h)
    values_[head_key(stat, layer, static_cast<int>(h))] = per_head[h];
}

void AttentionDiagnostics::record_response_focus(int layer, double sink_mass, double context_mass,
                                                 double pairs) {
  Focus& f = focus_[layer];
  f.sink += sink_mass;
  f.context += context_mass;
  f.pairs += pairs;
}

std::vector<std::pair<std::string, double>> AttentionDiagnostics::values() const {
  std::map<std::string, double> out;
  std::vector<double> sink, context;
  for (const auto& [layer, f] : focus_) {
    if (f.pairs <= 0) continue;
    sink.push_back(f.sink / f.pairs);
    context.push_back(f.context / f.pairs);
    out[layer_key("sink_mass", layer)] = sink.back();
    out[layer_key("context_engagement", layer)] = context.back();
  }
  if (!sink.empty()) {
    out["attn/sink_mass"] = mean(sink);
    out["attn/context_engagement"] = mean(context);
  }
  if (focus_only_) return {out.begin(), out.end()};
  out.insert(values_.begin(), values_.end());
  static const char* kStats[] = {"first_token_mass", "entropy", "entropy_norm"};
  std::map<int, std::vector<std::vector<double>>> by_layer;  // layer -> stat -> head values
  std::vector<double> all[3];
  int sink_heads = 0;
  for (const auto& [lh, v] : heads_) {
    auto& l = by_layer[lh.first];
    l.resize(3);
    for (int s = 0; s < 3; ++s) {
      out[head_key(kStats[s], lh.first, lh.second)] = v[s];
      l[s].push_back(v[s]);
      all[s].push_back(v[s]);
    }
    if (v[0] > sink_threshold_) ++sink_heads;
  }
  for (const auto& [layer, stats] : by_layer)
    for (int s = 0; s < 3; ++s) out[layer_key(kStats[s], layer)] = mean(stats[s]);
  if (!heads_.empty()) {
    for (int s = 0; s < 3; ++s) out[std::string("attn/") + kStats[s]] = mean(all[s]);
    out["attn/sink_head_ratio"] = sink_heads / static_cast<double>(heads_.size());
  }
  add_head_statistic(out, "domain_first_token_mass", domain_mass_);
  add_head_statistic(out, "value_drain", value_drain_);
  if (!domain_mass_.empty()) {
    int dormant = 0;
    for (const auto& [lh, m] : domain_mass_) dormant += m > sink_threshold_;
    out["attn/dormant_share"] = dormant / static_cast<double>(domain_mass_.size());
  }
  double max_act = -1, peak = -1;
  for (const auto& [layer, m] : max_activation_) {
    out[layer_key("max_activation", layer)] = m;
    max_act = std::max(max_act, m);
  }
  if (max_act >= 0) out["attn/max_activation"] = max_act;
  for (const auto& [layer, r] : residual_peak_) {
    out[layer_key("residual_peak", layer)] = r;
    peak = std::max(peak, r);
  }
  if (peak >= 0) out["attn/residual_peak"] = peak;
  for (const auto& [stat, v] : per_layer_) out["attn/" + stat] = mean(v);
  return {out.begin(), out.end()};
}

std::vector<double> dense_causal_probabilities(const Tensor& q, const Tensor& k, const Tensor& sink,
                                               int64_t window) {
  ATTN_CHECK(q.ndim() == 3 && k.ndim() == 3 && q.size(0) == k.size(0) && q.size(2) == k.size(2) &&
                 q.size(1) % k.size(1) == 0,
             "dense_causal_probabilities: q [T, heads, d] and k [T, kv_heads, d], got {} and {}",
             q.str(), k.str());
  const int64_t t = q.size(0), heads = q.size(1), kvh = k.size(1), d = q.size(2);
  const std::vector<double> qv = q.to_vector<double>(), kv = k.to_vector<double>();
  const std::vector<double> z = sink.defined() ? sink.to_vector<double>() : std::vector<double>{};
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> p(static_cast<size_t>(heads * t * t), 0.0);
  for (int64_t h = 0; h < heads; ++h) {
    const int64_t g = h / (heads / kvh);
    for (int64_t i = 0; i < t; ++i) {
      const int64_t j0 = window > 0 ? std::max<int64_t>(0, i - window + 1) : 0;
      double* row = &p[(h * t + i) * t];
      double m = z.empty() ? -std::numeric_limits<double>::infinity() : z[h];
      for (int64_t j = j0; j <= i; ++j) {
        double s = 0;
        for (int64_t c = 0; c < d; ++c)
          s += qv[(i * heads + h) * d + c] * kv[(j * kvh + g) * d + c];
        row[j] = s * scale;
        m = std::max(m, row[j]);
      }
      double sum = z.empty() ? 0.0 : std::exp(z[h] - m);
      for (int64_t j = j0; j <= i; ++j) sum += (row[j] = std::exp(row[j] - m));
      for (int64_t j = j0; j <= i; ++j) row[j] /= sum;
    }
  }
  return p;
}

}  // namespace attn
