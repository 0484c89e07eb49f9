// Fused cross-entropy: gradient checks with ignore-index, per-token weights, sum reduction and
// large logits; value checks against log-softmax; all-ignored batches; bad targets.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/ops/cross_entropy.h"
#include "framework/ops/reduce.h"
#include "framework/ops/softmax.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::gradcheck;
using test::random_normal;

TEST(Gradcheck, CrossEntropy) {
  Tensor logits = random_normal({6, 5}, 1, DType::kF64, 2.0);
  Tensor targets = Tensor::from_vector<int32_t>({6}, {0, 4, -100, 2, 2, -100});
  EXPECT_TRUE(gradcheck([&](auto& in) { return cross_entropy(in[0], targets); }, {logits}));

  CrossEntropyOptions weighted;
  weighted.weights = Tensor::from_vector<double>({6}, {1, 0.5, 3, 2, 0, 1});
  EXPECT_TRUE(
      gradcheck([&](auto& in) { return cross_entropy(in[0], targets, weighted); }, {logits}));

  CrossEntropyOptions summed;
  summed.reduction = CrossEntropyOptions::Reduction::kSum;
  summed.ignore_index = 4;
  Tensor t64 = Tensor::from_vector<int64_t>({6}, {0, 4, 1, 2, 3, 4});
  EXPECT_TRUE(gradcheck([&](auto& in) { return cross_entropy(in[0], t64, summed); }, {logits}));

  // Large logits (1e3 apart) stay finite.
  Tensor big =
      Tensor::from_vector<double>({2, 3}, {1000, -1000, 0, 500, 501, 499}).set_requires_grad();
  Tensor bt = Tensor::from_vector<int32_t>({2}, {1, 2});
  EXPECT_TRUE(gradcheck([&](auto& in) { return cross_entropy(in[0], bt); }, {big}));
}

TEST(CrossEntropy, MatchesLogSoftmax) {
  Tensor logits = random_normal({4, 7}, 2, DType::kF64, 1.0, false);
  Tensor targets = Tensor::from_vector<int32_t>({4}, {3, -100, 6, 0});
  CrossEntropyOptions o;
  o.weights = Tensor::from_vector<double>({4}, {2, 9, 1, 0.5});
  std::vector<double> lp = log_softmax(logits).to_vector<double>();
  double expected = -(2 * lp[0 * 7 + 3] + 1 * lp[2 * 7 + 6] + 0.5 * lp[3 * 7 + 0]) / 3.5;
  EXPECT_NEAR(cross_entropy(logits, targets, o).item(), expected, 1e-12);
}

TEST(CrossEntropy, AllIgnoredGivesZeroLossAndZeroGrad) {
  Tensor logits = random_normal({3, 4}, 3, DType::kF64);
  Tensor targets = Tensor::from_vector<int32_t>({3}, {-100, -100, -100});
  Tensor loss = cross_entropy(logits, targets);
  EXPECT_EQ(loss.item(), 0.0);
  backward(loss);
  for (double g : logits.grad().to_vector<double>()) EXPECT_EQ(g, 0.0);
}

TEST(CrossEntropy, RejectsBadTargets) {
  Tensor logits = Tensor::zeros({2, 3});
  try {
    cross_entropy(logits, Tensor::from_vector<int32_t>({2}, {1, 3}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("target 3 at position 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cross_entropy(logits, Tensor::from_vector<int32_t>({3}, {0, 0, 0})), Error);
}

TEST(Determinism, CrossEntropy) {
  test::expect_same_bits_for_1_and_2_threads([] {
    Tensor logits = random_normal({600, 257}, 4, DType::kF32, 3.0);
    Tensor targets = test::random_ids({600}, 257, 5);
    Tensor loss = cross_entropy(logits, targets);
    backward(loss);
    return std::vector<Tensor>{loss, logits.grad()};
  });
}

}  // namespace
}  // namespace attn
