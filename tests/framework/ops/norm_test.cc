// LayerNorm and RMSNorm: gradient checks for input, weight and bias, values, determinism.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/norm.h"
#include "framework/ops/reduce.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::gradcheck;
using test::random_normal;

TEST(Gradcheck, LayerNorm) {
  Tensor x = random_normal({2, 3, 6}, 1), w = random_normal({6}, 2), b = random_normal({6}, 3);
  EXPECT_TRUE(gradcheck([](auto& in) { return layer_norm(in[0], in[1], in[2], 1e-5); }, {x, w, b}));
  // No bias; a single feature would normalise to 0, use 2.
  Tensor x2 = random_normal({5, 2}, 4), w2 = random_normal({2}, 5);
  EXPECT_TRUE(
      gradcheck([](auto& in) { return layer_norm(in[0], in[1], Tensor(), 1e-5); }, {x2, w2}));
}

TEST(Gradcheck, RmsNorm) {
  Tensor x = random_normal({4, 5}, 6), w = random_normal({5}, 7);
  EXPECT_TRUE(gradcheck([](auto& in) { return rms_norm(in[0], in[1], 1e-6); }, {x, w}));
  Tensor x1 = random_normal({3, 1}, 8), w1 = random_normal({1}, 9);
  EXPECT_TRUE(gradcheck([](auto& in) { return rms_norm(in[0], in[1], 1e-6); }, {x1, w1}));
}

TEST(Norm, Values) {
  Tensor x = Tensor::from_vector<double>({1, 4}, {1, 2, 3, 4});
  Tensor w = Tensor::full({4}, 1.0, DType::kF64), b = Tensor::zeros({4}, DType::kF64);
  std::vector<double> y = layer_norm(x, w, b, 1e-12).to_vector<double>();
  double sd = std::sqrt(1.25);
  EXPECT_NEAR(y[0], -1.5 / sd, 1e-9);
  EXPECT_NEAR(y[3], 1.5 / sd, 1e-9);
  std::vector<double> r = rms_norm(x, w, 1e-12).to_vector<double>();
  EXPECT_NEAR(r[1], 2 / std::sqrt(7.5), 1e-9);
}

TEST(Norm, RejectsBadArguments) {
  Tensor x = Tensor::zeros({2, 4});
  EXPECT_THROW(layer_norm(x, Tensor::zeros({3}), Tensor()), Error);
  EXPECT_THROW(layer_norm(x, Tensor::zeros({4}), Tensor::zeros({3})), Error);
  EXPECT_THROW(rms_norm(x, Tensor::zeros({4}), 0.0), Error);
}

TEST(Determinism, Norm) {
  test::expect_same_bits_for_1_and_2_threads([] {
    Tensor x = random_normal({1000, 200}, 10, DType::kF32);
    Tensor w = random_normal({200}, 11, DType::kF32), b = random_normal({200}, 12, DType::kF32);
    Tensor y = layer_norm(x, w, b), z = rms_norm(x, w);
    backward(add(sum(y), sum(z)));
    return std::vector<Tensor>{y, z, x.grad(), w.grad(), b.grad()};
  });
}

}  // namespace
}  // namespace attn
