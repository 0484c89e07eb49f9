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

// Both outputs reach the loss, one through the other, so every path of the fused backward runs.
Tensor use_both(const AddNormResult& r) {
  return add(scale(r.sum, 0.7), mul(r.normed, r.sum));
}

TEST(Gradcheck, AddLayerNorm) {
  Tensor x = random_normal({2, 3, 6}, 21), r = random_normal({2, 3, 6}, 22);
  Tensor w = random_normal({6}, 23), b = random_normal({6}, 24);
  EXPECT_TRUE(
      gradcheck([](auto& in) { return use_both(add_layer_norm(in[0], in[1], in[2], in[3], 1e-5)); },
                {x, r, w, b}));
  // Only the normed sum used (the sum's gradient starts at zero).
  EXPECT_TRUE(
      gradcheck([](auto& in) { return add_layer_norm(in[0], in[1], in[2], in[3], 1e-5).normed; },
                {x, r, w, b}));
}

TEST(Gradcheck, AddRmsNorm) {
  Tensor x = random_normal({4, 5}, 25), r = random_normal({4, 5}, 26), w = random_normal({5}, 27);
  EXPECT_TRUE(gradcheck([](auto& in) { return use_both(add_rms_norm(in[0], in[1], in[2], 1e-6)); },
                        {x, r, w}));
}

// The fused op against add() then the norm, in f32: the same sum and the same kernel give the
// same forward to the bit; gradients may differ by the order the sum's gradient is accumulated.
TEST(Norm, AddThenNormIsAddFollowedByNorm) {
  for (bool rms : {false, true}) {
    SCOPED_TRACE(rms ? "rms" : "layer");
    auto run = [rms](bool fused) {
      Tensor x = random_normal({33, 70}, 31, DType::kF32),
             r = random_normal({33, 70}, 32, DType::kF32);
      Tensor w = random_normal({70}, 33, DType::kF32), b = random_normal({70}, 34, DType::kF32);
      AddNormResult out;
      if (fused) {
        out = rms ? add_rms_norm(x, r, w) : add_layer_norm(x, r, w, b);
      } else {
        out.sum = add(x, r);
        out.normed = rms ? rms_norm(out.sum, w) : layer_norm(out.sum, w, b);
      }
      backward(sum(use_both(out)));
      return std::vector<Tensor>{out.sum,  out.normed, x.grad(),
                                 r.grad(), w.grad(),   rms ? Tensor::zeros({1}) : b.grad()};
    };
    const std::vector<Tensor> want = run(false), got = run(true);
    EXPECT_EQ(want[0].to_vector<float>(), got[0].to_vector<float>());
    EXPECT_EQ(want[1].to_vector<float>(), got[1].to_vector<float>());
    for (size_t i = 2; i < want.size(); ++i) {
      const std::vector<float> a = want[i].to_vector<float>(), g = got[i].to_vector<float>();
      ASSERT_EQ(a.size(), g.size());
      for (size_t j = 0; j < a.size(); ++j) ASSERT_NEAR(g[j], a[j], 1e-5 * (1 + std::abs(a[j])));
    }
  }
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
  EXPECT_THROW(add_layer_norm(x, Tensor::zeros({2, 3}), Tensor::zeros({4}), Tensor()), Error);
  EXPECT_THROW(add_rms_norm(x, Tensor(), Tensor::zeros({4})), Error);
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
