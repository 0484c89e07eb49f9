// softmax / log_softmax over the last axis: gradient checks (incl. large logits), values.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/softmax.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::gradcheck;
using test::random_normal;

TEST(Gradcheck, Softmax) {
  EXPECT_TRUE(gradcheck([](auto& x) { return softmax(x[0]); }, {random_normal({3, 5}, 1)}));
  EXPECT_TRUE(gradcheck([](auto& x) { return softmax(x[0]); }, {random_normal({4, 1}, 2)}));
  // Large logits must stay finite and differentiable.
  Tensor big = Tensor::from_vector<double>({2, 3}, {1000, 1001, 999, -500, -501, -499.5})
                   .set_requires_grad();
  EXPECT_TRUE(gradcheck([](auto& x) { return softmax(x[0]); }, {big}));
}

TEST(Gradcheck, LogSoftmax) {
  EXPECT_TRUE(gradcheck([](auto& x) { return log_softmax(x[0]); }, {random_normal({2, 2, 4}, 3)}));
  Tensor big = Tensor::from_vector<double>({1, 3}, {800, 0, -800}).set_requires_grad();
  EXPECT_TRUE(gradcheck([](auto& x) { return log_softmax(x[0]); }, {big}));
}

TEST(Softmax, RowsSumToOneAndLargeLogitsAreStable) {
  Tensor x = Tensor::from_vector<double>({2, 3}, {1000, 1000, 1000, 0, std::log(2.0), 0});
  std::vector<double> p = softmax(x).to_vector<double>();
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[i], 1.0 / 3, 1e-15);
  EXPECT_NEAR(p[4], 0.5, 1e-15);
  std::vector<double> lp = log_softmax(x).to_vector<double>();
  EXPECT_NEAR(lp[0], -std::log(3.0), 1e-12);
}

TEST(Determinism, Softmax) {
  test::expect_same_bits_for_1_and_2_threads([] {
    Tensor x = random_normal({513, 129}, 4, DType::kF32, 3.0);
    Tensor p = softmax(x), lp = log_softmax(x);
    backward(sum(add(p, lp)));
    return std::vector<Tensor>{p, lp, x.grad()};
  });
}

}  // namespace
}  // namespace attn
