// sum / mean along an axis and over everything: gradient checks, values, determinism.
#include <gtest/gtest.h>

#include "framework/autograd/tape.h"
#include "framework/ops/reduce.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::gradcheck;
using test::random_normal;

TEST(Gradcheck, Sum) {
  Tensor x = random_normal({2, 3, 4}, 1);
  for (int axis : {0, 1, 2, -1})
    for (bool keep : {false, true})
      EXPECT_TRUE(gradcheck([&](auto& in) { return sum(in[0], axis, keep); }, {x}))
          << "axis " << axis << " keepdim " << keep;
  EXPECT_TRUE(gradcheck([](auto& in) { return sum(in[0]); }, {x}));
}

TEST(Gradcheck, Mean) {
  Tensor x = random_normal({3, 1, 5}, 2);
  for (int axis : {0, 1, 2})
    EXPECT_TRUE(gradcheck([&](auto& in) { return mean(in[0], axis); }, {x})) << axis;
  EXPECT_TRUE(gradcheck([](auto& in) { return mean(in[0]); }, {x}));
}

TEST(Reduce, Values) {
  Tensor x = Tensor::from_vector<double>({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(sum(x, 0).to_vector<double>(), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(sum(x, 1).to_vector<double>(), (std::vector<double>{6, 15}));
  EXPECT_EQ(mean(x, 1, true).shape(), Shape({2, 1}));
  EXPECT_EQ(mean(x).item(), 3.5);
  EXPECT_EQ(sum(x).shape().ndim(), 0);
}

TEST(Determinism, Reduce) {
  test::expect_same_bits_for_1_and_2_threads([] {
    Tensor x = random_normal({3, 1000, 300}, 3, DType::kF32);
    Tensor big = random_normal({1 << 20}, 4, DType::kF32);
    Tensor a = sum(x, 1), b = mean(x, 2), c = sum(x, 0), d = sum(big);
    backward(sum(a));
    return std::vector<Tensor>{a, b, c, d, x.grad()};
  });
}

}  // namespace
}  // namespace attn
