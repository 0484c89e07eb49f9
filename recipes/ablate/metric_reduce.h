// One number per run from a logged metric (LAST, MEAN, MIN, MAX, SPIKES), and one mean +- sample
// standard deviation per arm from its runs.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "recipes/ablate/ablation.h"

namespace attn {

// The values of `key` in metrics.jsonl rows, in logged order. Rows without the key are skipped;
// a null (how a NaN or inf was logged) reads as NaN.
std::vector<double> metric_values(const std::vector<nlohmann::json>& rows, const std::string& key);

// LAST: the last value. MEAN: the mean, without the first value (it includes warm-up) when there
// are two or more. MIN, MAX. SPIKES: how many values, from the 11th on, exceed spike_ratio x the
// mean of the 10 values before them. NaN when `values` is empty; MEAN, MIN and MAX are NaN when
// any value is (a diverged metric must not look fine).
double reduce_metric(const std::vector<double>& values, AblationMetric::Reduce reduce,
                     double spike_ratio);

struct MeanStd {
  int n = 0;
  double mean = 0;  // NaN when n == 0
  double std = 0;   // sample standard deviation (n - 1); NaN when n < 2
};

MeanStd mean_std(const std::vector<double>& values);

}  // namespace attn
