#include "recipes/train/mil_metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "framework/core/error.h"

namespace attn {

double roc_auc(const std::vector<double>& scores, const std::vector<int32_t>& labels) {
  ATTN_CHECK(scores.size() == labels.size(), "roc_auc: {} scores for {} labels", scores.size(),
             labels.size());
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Sum of the positives' ranks (1-based, tied scores sharing their mean rank).
  double positive_ranks = 0;
  int64_t positives = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double mean_rank = 0.5 * static_cast<double>(i + 1 + j);
    for (size_t k = i; k < j; ++k)
      if (labels[order[k]] == 1) positive_ranks += mean_rank, ++positives;
    i = j;
  }
  const int64_t negatives = static_cast<int64_t>(labels.size()) - positives;
  if (positives == 0 || negatives == 0) return std::nan("");
  const double p = static_cast<double>(positives), n = static_cast<double>(negatives);
  return (positive_ranks - p * (p + 1) / 2) / (p * n);
}

}  // namespace attn
