#include "recipes/ablate/metric_reduce.h"

#include <cmath>

#include "framework/core/error.h"

namespace attn {

namespace {

constexpr size_t kSpikeWindow = 10;

bool any_nan(const std::vector<double>& v, size_t from) {
  for (size_t i = from; i < v.size(); ++i)
    if (std::isnan(v[i])) return true;
  return false;
}

}  // namespace

std::vector<double> metric_values(const std::vector<nlohmann::json>& rows, const std::string& key) {
  std::vector<double> out;
  for (const nlohmann::json& row : rows) {
    const auto it = row.find(key);
    if (it == row.end()) continue;
    if (it->is_number())
      out.push_back(it->get<double>());
    else if (it->is_null())
      out.push_back(NAN);
  }
  return out;
}

double reduce_metric(const std::vector<double>& values, AblationMetric::Reduce reduce,
                     double spike_ratio) {
  if (values.empty()) return NAN;
  switch (reduce) {
    case AblationMetric::REDUCE_UNSPECIFIED:
    case AblationMetric::LAST:
      return values.back();
    case AblationMetric::MEAN: {
      const size_t from = values.size() >= 2 ? 1 : 0;
      if (any_nan(values, from)) return NAN;
      double sum = 0;
      for (size_t i = from; i < values.size(); ++i) sum += values[i];
      return sum / static_cast<double>(values.size() - from);
    }
    case AblationMetric::MIN:
    case AblationMetric::MAX: {
      if (any_nan(values, 0)) return NAN;
      double best = values[0];
      for (double v : values)
        best = reduce == AblationMetric::MIN ? std::min(best, v) : std::max(best, v);
      return best;
    }
    case AblationMetric::SPIKES: {
      int spikes = 0;
      for (size_t i = kSpikeWindow; i < values.size(); ++i) {
        double sum = 0;  // summed afresh: a running sum would drift over long runs
        for (size_t j = i - kSpikeWindow; j < i; ++j) sum += values[j];
        spikes += values[i] > spike_ratio * (sum / static_cast<double>(kSpikeWindow));
      }
      return spikes;
    }
    default:
      break;
  }
  ATTN_FAIL(kInternal, "unknown reduce {}", static_cast<int>(reduce));
}

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd r;
  r.n = static_cast<int>(values.size());
  if (values.empty()) {
    r.mean = r.std = NAN;
    return r;
  }
  double sum = 0;
  for (double v : values) sum += v;
  r.mean = sum / r.n;
  if (r.n < 2) {
    r.std = NAN;
    return r;
  }
  double ss = 0;
  for (double v : values) ss += (v - r.mean) * (v - r.mean);
  r.std = std::sqrt(ss / (r.n - 1));
  return r;
}

}  // namespace attn
