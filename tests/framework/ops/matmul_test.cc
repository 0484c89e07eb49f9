// matmul / bmm: gradient checks for every transpose combination, shared-weight batching,
// a comparison with naive loops, and thread-count determinism.
#include <gtest/gtest.h>

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/matmul.h"
#include "framework/ops/reduce.h"
#include "tests/support/blas_core_types.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::gradcheck;
using test::random_normal;

TEST(Gradcheck, Matmul) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = ta ? random_normal({4, 3}, 1) : random_normal({3, 4}, 1);
      Tensor b = tb ? random_normal({5, 4}, 2) : random_normal({4, 5}, 2);
      EXPECT_TRUE(gradcheck([&](auto& x) { return matmul(x[0], x[1], ta, tb); }, {a, b}))
          << "ta=" << ta << " tb=" << tb;
    }
  // Leading dims are flattened (a linear layer on [batch, tokens, features]).
  Tensor a = random_normal({2, 3, 4}, 3), b = random_normal({6, 4}, 4);
  EXPECT_TRUE(gradcheck([](auto& x) { return matmul(x[0], x[1], false, true); }, {a, b}));
  // Size-1 edge dims.
  Tensor c = random_normal({1, 1}, 5), d = random_normal({1, 3}, 6);
  EXPECT_TRUE(gradcheck([](auto& x) { return matmul(x[0], x[1]); }, {c, d}));
}

TEST(Gradcheck, Bmm) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = ta ? random_normal({2, 3, 4, 3}, 7) : random_normal({2, 3, 3, 4}, 7);
      Tensor b = tb ? random_normal({2, 3, 2, 4}, 8) : random_normal({2, 3, 4, 2}, 8);
      EXPECT_TRUE(gradcheck([&](auto& x) { return bmm(x[0], x[1], ta, tb); }, {a, b}))
          << "ta=" << ta << " tb=" << tb;
    }
}

TEST(Matmul, MatchesNaiveLoops) {
  Tensor a = random_normal({5, 7}, 9, DType::kF64, 1.0, false);
  Tensor b = random_normal({7, 3}, 10, DType::kF64, 1.0, false);
  std::vector<double> c = matmul(a, b).to_vector<double>();
  std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int k = 0; k < 7; ++k) s += av[i * 7 + k] * bv[k * 3 + j];
      EXPECT_NEAR(c[i * 3 + j], s, 1e-12);
    }
}

TEST(Matmul, RejectsMismatchedShapes) {
  Tensor a = Tensor::zeros({3, 4}), b = Tensor::zeros({5, 6});
  EXPECT_THROW(matmul(a, b), Error);
  EXPECT_THROW(matmul(a, Tensor::zeros({4, 2}, DType::kF64)), Error);
  EXPECT_THROW(bmm(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 4, 5})), Error);
}

TEST(Determinism, Matmul) {
  test::expect_same_bits_for_1_and_2_threads([] {
    Tensor a = random_normal({96, 200}, 11, DType::kF32),
           b = random_normal({300, 200}, 12, DType::kF32);
    Tensor x = random_normal({8, 40, 33}, 13, DType::kF32),
           y = random_normal({8, 33, 17}, 14, DType::kF32);
    Tensor c = matmul(a, b, false, true), z = bmm(x, y);
    backward(add(sum(c), sum(z)));
    return std::vector<Tensor>{c, z, a.grad(), b.grad(), x.grad(), y.grad()};
  });
}

// Every op's Determinism check (matrix products above all) under each OpenBLAS core type and
// cache-size setting this CPU can run, in child processes.
TEST(BlasCoreTypes, OpsSameBitsForAnyThreadCount) {
  test::expect_filter_passes_under_every_core_type("Determinism.*");
}

}  // namespace
}  // namespace attn
