// RoPE: gradient checks for both pairings, norm preservation, relative-position property.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/ops/reduce.h"
#include "framework/ops/rope.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::gradcheck;
using test::random_normal;

Tensor positions(std::vector<int32_t> p) {
  return Tensor::from_vector<int32_t>({static_cast<int64_t>(p.size())}, p);
}

TEST(Gradcheck, Rope) {
  Tensor x = random_normal({5, 2, 6}, 1);
  Tensor pos = positions({0, 1, 2, 0, 1});  // two packed documents
  for (RopePairing pairing : {RopePairing::kHalf, RopePairing::kInterleaved}) {
    RopeOptions o{10000.0, pairing};
    EXPECT_TRUE(gradcheck([&](auto& in) { return rope(in[0], pos, o); }, {x}))
        << "pairing " << int(pairing);
  }
}

TEST(Rope, PositionZeroIsIdentityAndNormsArePreserved) {
  Tensor x = random_normal({3, 2, 8}, 2, DType::kF64, 1.0, false);
  Tensor y = rope(x, positions({0, 7, 1000}));
  std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  for (int i = 0; i < 16; ++i) EXPECT_DOUBLE_EQ(xv[i], yv[i]);
  for (int t = 0; t < 3; ++t) {
    double nx = 0, ny = 0;
    for (int i = 0; i < 16; ++i)
      nx += xv[t * 16 + i] * xv[t * 16 + i], ny += yv[t * 16 + i] * yv[t * 16 + i];
    EXPECT_NEAR(nx, ny, 1e-10);
  }
}

TEST(Rope, DotProductDependsOnlyOnRelativePosition) {
  Tensor q = random_normal({1, 1, 8}, 3, DType::kF64, 1.0, false);
  Tensor k = random_normal({1, 1, 8}, 4, DType::kF64, 1.0, false);
  auto dot_at = [&](int pq, int pk) {
    std::vector<double> a = rope(q, positions({pq})).to_vector<double>();
    std::vector<double> b = rope(k, positions({pk})).to_vector<double>();
    double s = 0;
    for (int i = 0; i < 8; ++i) s += a[i] * b[i];
    return s;
  };
  EXPECT_NEAR(dot_at(5, 2), dot_at(103, 100), 1e-10);
}

TEST(Rope, RejectsBadShapes) {
  EXPECT_THROW(rope(Tensor::zeros({2, 1, 3}), positions({0, 1})), Error);
  EXPECT_THROW(rope(Tensor::zeros({2, 1, 4}), positions({0})), Error);
}

TEST(Determinism, Rope) {
  test::expect_same_bits_for_1_and_2_threads([] {
    Tensor x = random_normal({500, 4, 64}, 5, DType::kF32);
    std::vector<int32_t> p(500);
    for (int i = 0; i < 500; ++i) p[i] = i % 137;
    Tensor y = rope(x, positions(p));
    backward(sum(y));
    return std::vector<Tensor>{y, x.grad()};
  });
}

}  // namespace
}  // namespace attn
