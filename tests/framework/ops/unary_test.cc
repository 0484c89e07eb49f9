// GELU (erf, tanh), SiLU, sigmoid, tanh, exp, log, ReLU: gradient checks incl. large |x|, values.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/unary.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::gradcheck;
using test::random_normal;

// Inputs spanning the interesting range, including saturated tails.
Tensor spread() {
  return Tensor::from_vector<double>({9}, {-12, -3.5, -1, -0.25, 0, 0.3, 1.2, 4, 15})
      .set_requires_grad();
}

TEST(Gradcheck, GeluErf) {
  EXPECT_TRUE(gradcheck([](auto& x) { return gelu(x[0], GeluApprox::kErf); }, {spread()}));
}
TEST(Gradcheck, GeluTanh) {
  EXPECT_TRUE(gradcheck([](auto& x) { return gelu(x[0], GeluApprox::kTanh); }, {spread()}));
}
TEST(Gradcheck, Silu) {
  EXPECT_TRUE(gradcheck([](auto& x) { return silu(x[0]); }, {spread()}));
}
TEST(Gradcheck, Relu) {
  // Away from the kink at 0, where a central difference straddles both slopes.
  Tensor x = Tensor::from_vector<double>({6}, {-12, -1, -0.25, 0.3, 1.2, 15}).set_requires_grad();
  EXPECT_TRUE(gradcheck([](auto& in) { return relu(in[0]); }, {x}));
}
TEST(Gradcheck, Sigmoid) {
  EXPECT_TRUE(gradcheck([](auto& x) { return sigmoid(x[0]); }, {spread()}));
}
TEST(Gradcheck, Tanh) {
  EXPECT_TRUE(gradcheck([](auto& x) { return tanh(x[0]); }, {spread()}));
}
TEST(Gradcheck, Exp) {
  EXPECT_TRUE(gradcheck([](auto& x) { return exp(x[0]); }, {random_normal({2, 3}, 1)}));
}
TEST(Gradcheck, Log) {
  EXPECT_TRUE(
      gradcheck([](auto& x) { return log(x[0]); }, {test::random_uniform({2, 3}, 2, 0.1, 3.0)}));
}

TEST(Gradcheck, BiasGelu) {
  for (GeluApprox approx : {GeluApprox::kErf, GeluApprox::kTanh})
    EXPECT_TRUE(gradcheck([approx](auto& x) { return bias_gelu(x[0], x[1], approx); },
                          {random_normal({3, 2, 5}, 4), random_normal({5}, 5)}));
  // x also used after the op: its gradient is not empty when the op's backward runs, which
  // takes the scratch path instead of writing into x's gradient directly.
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        Tensor g = bias_gelu(x[0], x[1]);  // recorded first, so its backward runs last
        return add(g, scale(x[0], 0.3));
      },
      {random_normal({4, 5}, 14), random_normal({5}, 15)}));
}

// The fused op is the composition: the same float sum feeds the same activation, and the bias
// gradient goes through add_bias's own backward. Not to the bit: the row loops vectorise
// differently from the flat ones (an ulp or two where the compiler contracts to FMA).
void expect_near(const Tensor& want, const Tensor& got) {
  const std::vector<float> w = want.to_vector<float>(), g = got.to_vector<float>();
  ASSERT_EQ(w.size(), g.size());
  for (size_t i = 0; i < w.size(); ++i) ASSERT_NEAR(g[i], w[i], 1e-6 * (1 + std::abs(w[i])));
}
TEST(Unary, BiasGeluIsGeluOfAddBias) {
  for (GeluApprox approx : {GeluApprox::kErf, GeluApprox::kTanh}) {
    Tensor x = random_normal({37, 129}, 6, DType::kF32), b = random_normal({129}, 7, DType::kF32);
    Tensor x2 = random_normal({37, 129}, 6, DType::kF32), b2 = random_normal({129}, 7, DType::kF32);
    Tensor dy = random_normal({37, 129}, 8, DType::kF32, 1.0, false);
    Tensor fused = bias_gelu(x, b, approx);
    backward(sum(mul(fused, dy)));
    Tensor plain = gelu(add_bias(x2, b2), approx);
    backward(sum(mul(plain, dy)));
    expect_near(plain, fused);
    expect_near(x2.grad(), x.grad());
    expect_near(b2.grad(), b.grad());
  }
  EXPECT_EQ(bias_gelu(random_normal({2, 3}, 9), Tensor()).to_vector<double>(),
            gelu(random_normal({2, 3}, 9)).to_vector<double>());
  EXPECT_THROW(bias_gelu(random_normal({2, 3}, 9), random_normal({2}, 9)), Error);
}

TEST(Unary, ValuesAndNoOverflow) {
  Tensor x = Tensor::from_vector<double>({4}, {-1000, -1, 0, 1000});
  std::vector<double> s = sigmoid(x).to_vector<double>();
  EXPECT_EQ(s[0], 0.0);
  EXPECT_NEAR(s[1], 1 / (1 + std::exp(1.0)), 1e-15);
  EXPECT_EQ(s[2], 0.5);
  EXPECT_EQ(s[3], 1.0);
  std::vector<double> g = gelu(x).to_vector<double>();
  EXPECT_EQ(g[0], -0.0);
  EXPECT_NEAR(g[1], -0.15865525393145707, 1e-15);
  EXPECT_EQ(g[3], 1000.0);
  std::vector<double> si = silu(x).to_vector<double>();
  EXPECT_TRUE(std::isfinite(si[0]));
}

TEST(Determinism, Unary) {
  test::expect_same_bits_for_1_and_2_threads([] {
    Tensor x = random_normal({70000}, 3, DType::kF32);
    Tensor y = tanh(silu(gelu(x, GeluApprox::kTanh)));
    Tensor z = sigmoid(gelu(x));
    backward(add(sum(y), sum(z)));
    return std::vector<Tensor>{y, z, x.grad()};
  });
}

}  // namespace
}  // namespace attn
