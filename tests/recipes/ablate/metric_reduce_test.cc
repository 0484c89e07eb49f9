// Reducers of logged metrics (LAST, MEAN without the warm-up row, MIN, MAX, SPIKES) and the
// mean +- sample standard deviation over seeds.
#include "recipes/ablate/metric_reduce.h"

#include <gtest/gtest.h>

#include <cmath>

namespace attn {
namespace {

using M = AblationMetric;

double reduce(const std::vector<double>& v, M::Reduce r, double ratio = 1.05) {
  return reduce_metric(v, r, ratio);
}

TEST(MetricReduce, ValuesSkipRowsWithoutTheKeyAndReadNullAsNan) {
  const std::vector<nlohmann::json> rows = {
      {{"step", 1}, {"loss", 3.0}},
      {{"step", 1}, {"val_loss", 3.5}},
      {{"step", 2}, {"loss", nullptr}},
      {{"step", 3}, {"loss", 2.0}, {"attn/first_token_mass", 0.25}},
  };
  const std::vector<double> loss = metric_values(rows, "loss");
  ASSERT_EQ(loss.size(), 3u);
  EXPECT_EQ(loss[0], 3.0);
  EXPECT_TRUE(std::isnan(loss[1]));
  EXPECT_EQ(metric_values(rows, "attn/first_token_mass"), std::vector<double>{0.25});
  EXPECT_TRUE(metric_values(rows, "nope").empty());
}

TEST(MetricReduce, LastMinMax) {
  const std::vector<double> v = {4, 2, 3, 5, 1.5};
  EXPECT_EQ(reduce(v, M::LAST), 1.5);
  EXPECT_EQ(reduce(v, M::REDUCE_UNSPECIFIED), 1.5);
  EXPECT_EQ(reduce(v, M::MIN), 1.5);
  EXPECT_EQ(reduce(v, M::MAX), 5);
}

TEST(MetricReduce, MeanSkipsTheFirstWarmUpValue) {
  EXPECT_DOUBLE_EQ(reduce({100, 1, 2, 3}, M::MEAN), 2.0);
  EXPECT_DOUBLE_EQ(reduce({7}, M::MEAN), 7.0);  // nothing else to average
  EXPECT_DOUBLE_EQ(reduce({100, 4}, M::MEAN), 4.0);
}

TEST(MetricReduce, NanIsNotHidden) {
  EXPECT_TRUE(std::isnan(reduce({1, NAN, 2}, M::MEAN)));
  EXPECT_TRUE(std::isnan(reduce({1, NAN, 2}, M::MIN)));
  EXPECT_TRUE(std::isnan(reduce({1, NAN, 2}, M::MAX)));
  EXPECT_TRUE(std::isnan(reduce({}, M::LAST)));
  EXPECT_TRUE(std::isnan(reduce({}, M::SPIKES)));
}

TEST(MetricReduce, SpikesCountFromTheEleventhValueAgainstTheTenBefore) {
  std::vector<double> v(10, 2.0);
  EXPECT_EQ(reduce(v, M::SPIKES), 0);
  // A huge first value is not a spike (no 10 values before it) but raises later windows.
  std::vector<double> early = v;
  early[0] = 100;
  EXPECT_EQ(reduce(early, M::SPIKES), 0);
  v.push_back(2.1);  // exactly 1.05 x 2.0: not above it
  EXPECT_EQ(reduce(v, M::SPIKES), 0);
  v.push_back(2.2);  // window mean (9 x 2.0 + 2.1) / 10 = 2.01; 2.2 > 2.1105
  EXPECT_EQ(reduce(v, M::SPIKES), 1);
  v.push_back(2.0);
  v.push_back(3.0);
  EXPECT_EQ(reduce(v, M::SPIKES), 2);
  EXPECT_EQ(reduce(v, M::SPIKES, 2.0), 0);  // a looser ratio
}

TEST(MetricReduce, SpikesWindowSlides) {
  // A spike lifts the mean of the next ten windows: 1.08 right after it is no spike (window mean
  // 1.1), the same 1.08 once the spike has left the window is (window mean 1.0).
  std::vector<double> v(10, 1.0);
  v.push_back(2.0);  // spike 1
  v.push_back(1.08);
  EXPECT_EQ(reduce(v, M::SPIKES), 1);
  v.pop_back();
  for (int i = 0; i < 10; ++i) v.push_back(1.0);
  v.push_back(1.08);  // spike 2
  EXPECT_EQ(reduce(v, M::SPIKES), 2);
}

TEST(MetricReduce, MeanStd) {
  const MeanStd two = mean_std({1.0, 3.0});
  EXPECT_EQ(two.n, 2);
  EXPECT_DOUBLE_EQ(two.mean, 2.0);
  EXPECT_DOUBLE_EQ(two.std, std::sqrt(2.0));  // sample std: divides by n - 1
  const MeanStd three = mean_std({2.0, 4.0, 9.0});
  EXPECT_DOUBLE_EQ(three.mean, 5.0);
  EXPECT_DOUBLE_EQ(three.std, std::sqrt((9.0 + 1.0 + 16.0) / 2.0));
}

TEST(MetricReduce, MeanStdWithOneSeedHasNoStd) {
  const MeanStd one = mean_std({2.5});
  EXPECT_EQ(one.n, 1);
  EXPECT_DOUBLE_EQ(one.mean, 2.5);
  EXPECT_TRUE(std::isnan(one.std));
  const MeanStd none = mean_std({});
  EXPECT_EQ(none.n, 0);
  EXPECT_TRUE(std::isnan(none.mean));
}

}  // namespace
}  // namespace attn
