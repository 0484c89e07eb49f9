// The variants' own ops (layers/attention/ops/): the affine combination and MoH's top-k gates.
// Float64 gradient checks, closed-form values (ties, k = cols, the running mean), bit-identical
// results for 1 and 2 threads, and shape refusals. variant_ops_cuda_test.cc compares the CUDA
// kernels with these.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/softmax.h"
#include "layers/attention/kernels/affine_combine.h"
#include "layers/attention/ops/affine_combine.h"
#include "layers/attention/ops/topk_gates.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

Tensor cu_of(const std::vector<int32_t>& lens) {
  std::vector<int32_t> cu{0};
  for (int32_t n : lens) cu.push_back(cu.back() + n);
  return Tensor::from_vector<int32_t>({static_cast<int64_t>(cu.size())}, cu);
}

TEST(Gradcheck, AffineCombine) {
  const Tensor cu = cu_of({1, 4, 3});  // a one-token document, GQA 4 heads over 2
  for (bool sigmoid : {true, false}) {
    SCOPED_TRACE(sigmoid ? "sigmoid" : "hard clip");
    const Tensor o = test::random_normal({8, 4, 3}, 1), v = test::random_normal({8, 2, 3}, 2);
    Tensor z = test::random_normal({8, 4}, 3);
    const Tensor ma = Tensor::from_vector<double>({4}, {0.2, 0.5, 0.9, 0.4});
    EXPECT_TRUE(test::gradcheck(
        [&](const std::vector<Tensor>& in) {
          return affine_combine(in[0], in[1], in[2], ma, cu, sigmoid).y;
        },
        {o, v, z}));
  }
}

TEST(VariantOps, AffineCombineIsAlphaOPlusBetaTimesTheRunningMean) {
  NoGrad no_grad;
  const Tensor cu = cu_of({2, 3});
  const Tensor o = test::random_normal({5, 2, 2}, 4), v = test::random_normal({5, 1, 2}, 5);
  const Tensor z = test::random_normal({5, 2}, 6);
  const std::vector<double> mav{0.3, 0.7};
  const AffineCombined r = affine_combine(o, v, z, Tensor::from_vector<double>({2}, mav), cu, true);
  const std::vector<double> ov = o.to_vector<double>(), vv = v.to_vector<double>(),
                            zv = z.to_vector<double>(), y = r.y.to_vector<double>(),
                            alpha = r.alpha.to_vector<double>();
  const int starts[5] = {0, 0, 2, 2, 2};
  for (int i = 0; i < 5; ++i)
    for (int h = 0; h < 2; ++h) {
      const double a = 1.0 / (1.0 + std::exp(-zv[i * 2 + h]));
      EXPECT_NEAR(alpha[i * 2 + h], a, 1e-15);
      for (int c = 0; c < 2; ++c) {
        double mean = 0;
        for (int j = starts[i]; j <= i; ++j) mean += vv[j * 2 + c];
        mean /= i - starts[i] + 1;
        EXPECT_NEAR(y[(i * 2 + h) * 2 + c], a * ov[(i * 2 + h) * 2 + c] + (mav[h] - a) * mean,
                    1e-14);
      }
    }
  EXPECT_DOUBLE_EQ(affine_clip(false, 10.0), 1.0);
  EXPECT_DOUBLE_EQ(affine_clip(false, -2.0), 0.3);
  EXPECT_DOUBLE_EQ(affine_clip_slope(false, -6.0), 0.0);
}

TEST(VariantOps, AffineCombineRefusesMismatchedShapes) {
  const Tensor o = Tensor::zeros({4, 2, 3}, DType::kF64), z = Tensor::zeros({4, 2}, DType::kF64);
  const Tensor ma = Tensor::zeros({2}, DType::kF64);
  EXPECT_THROW(affine_combine(o, Tensor::zeros({4, 3, 3}, DType::kF64), z, ma, cu_of({4}), true),
               Error);  // 3 kv heads do not divide 2 heads
  EXPECT_THROW(affine_combine(o, Tensor::zeros({4, 1, 3}, DType::kF64), z, ma, cu_of({3}), true),
               Error);  // documents of 3 tokens for 4
}

Tensor router_probabilities(int64_t rows, int64_t cols, uint64_t seed) {
  NoGrad no_grad;
  return softmax(test::random_normal({rows, cols}, seed)).set_requires_grad();
}

TEST(Gradcheck, TopkGates) {
  for (int64_t k : {1, 2, 4}) {
    SCOPED_TRACE(k);
    const Tensor p = router_probabilities(6, 4, 7);
    EXPECT_TRUE(test::gradcheck(
        [&](const std::vector<Tensor>& in) { return topk_gates(in[0], k).gates; }, {p}));
  }
}

TEST(VariantOps, TopkGatesBreakTiesByLowerIndexAndCountFractions) {
  NoGrad no_grad;
  // Row 0 ties 0.3 at columns 1 and 2 (column 1 wins); row 1 has one clear top pair.
  const Tensor p = Tensor::from_vector<double>({2, 4}, {0.1, 0.3, 0.3, 0.3, 0.4, 0.1, 0.4, 0.1});
  const TopkGates g = topk_gates(p, 2);
  const std::vector<double> gv = g.gates.to_vector<double>();
  const std::vector<double> want{0, 1, 1, 0, 1, 0, 1, 0};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(gv[i], want[i], 1e-15) << i;
  EXPECT_EQ(g.fraction.to_vector<double>(), (std::vector<double>{0.5, 0.5, 1.0, 0.0}));
  // k = cols: every column, renormalised to sum k.
  const std::vector<double> all = topk_gates(p, 4).gates.to_vector<double>();
  EXPECT_NEAR(all[0], 4 * 0.1, 1e-15);
  EXPECT_THROW(topk_gates(p, 5), Error);
  EXPECT_THROW(topk_gates(p, 0), Error);
}

TEST(Determinism, VariantOpsSameBitsFor1And2Threads) {
  const Tensor cu = cu_of({300, 1, 211});
  test::expect_same_bits_for_1_and_2_threads([&] {
    const Tensor o = test::random_normal({512, 4, 72}, 8, DType::kF32).set_requires_grad();
    const Tensor v = test::random_normal({512, 2, 72}, 9, DType::kF32).set_requires_grad();
    const Tensor z = test::random_normal({512, 4}, 10, DType::kF32).set_requires_grad();
    const Tensor ma = Tensor::full({4}, 0.5, DType::kF32);
    const Tensor p =
        softmax(test::random_normal({512, 7}, 11, DType::kF32, 1.0, false)).set_requires_grad();
    const AffineCombined a = affine_combine(o, v, z, ma, cu, true);
    const TopkGates g = topk_gates(p, 3);
    backward(add(sum(mul(a.y, a.y)), sum(mul(g.gates, g.gates))));
    return std::vector<Tensor>{a.y, g.gates, g.fraction, o.grad(), v.grad(), z.grad(), p.grad()};
  });
}

}  // namespace
}  // namespace attn
