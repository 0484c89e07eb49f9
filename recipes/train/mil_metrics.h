// Bag-level classification measures of a MIL evaluation.
#pragma once

#include <cstdint>
#include <vector>

namespace attn {

// Area under the ROC curve of `scores` for the positives (labels 1) against the negatives
// (labels 0): the Mann-Whitney probability that a random positive outscores a random negative,
// ties counting one half. NaN when either class is absent.
double roc_auc(const std::vector<double>& scores, const std::vector<int32_t>& labels);

}  // namespace attn
