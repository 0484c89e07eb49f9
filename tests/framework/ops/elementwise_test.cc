// add / sub / mul / scale / add_bias: gradient checks, values, errors, determinism.
#include <gtest/gtest.h>

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::gradcheck;
using test::random_normal;

TEST(Gradcheck, Add) {
  EXPECT_TRUE(gradcheck([](auto& x) { return add(x[0], x[1]); },
                        {random_normal({3, 4}, 1), random_normal({3, 4}, 2)}));
}

TEST(Gradcheck, Sub) {
  EXPECT_TRUE(gradcheck([](auto& x) { return sub(x[0], x[1]); },
                        {random_normal({5}, 3), random_normal({5}, 4)}));
}

TEST(Gradcheck, Mul) {
  Tensor a = random_normal({2, 3}, 5);
  EXPECT_TRUE(gradcheck([](auto& x) { return mul(x[0], x[1]); }, {a, random_normal({2, 3}, 6)}));
  // The same tensor on both sides: gradients from both uses must add up (2x).
  EXPECT_TRUE(gradcheck([](auto& x) { return mul(x[0], x[0]); }, {a}));
}

TEST(Gradcheck, Scale) {
  EXPECT_TRUE(gradcheck([](auto& x) { return scale(x[0], -2.5); }, {random_normal({4, 1}, 7)}));
}

TEST(Gradcheck, AddBias) {
  EXPECT_TRUE(gradcheck([](auto& x) { return add_bias(x[0], x[1]); },
                        {random_normal({2, 3, 4}, 8), random_normal({4}, 9)}));
  EXPECT_TRUE(gradcheck([](auto& x) { return add_bias(x[0], x[1]); },
                        {random_normal({1, 1}, 10), random_normal({1}, 11)}));
}

TEST(Gradcheck, ScaleRows) {
  EXPECT_TRUE(gradcheck([](auto& x) { return scale_rows(x[0], x[1]); },
                        {random_normal({3, 2, 5}, 12), random_normal({3, 2}, 13)}));
  EXPECT_TRUE(gradcheck([](auto& x) { return scale_rows(x[0], x[1]); },
                        {random_normal({1, 7}, 14), random_normal({1}, 15)}));
}

TEST(Elementwise, Values) {
  Tensor a = Tensor::from_vector<float>({3}, {1, 2, 3}),
         b = Tensor::from_vector<float>({3}, {4, 5, 6});
  EXPECT_EQ(add(a, b).to_vector<float>(), (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(sub(a, b).to_vector<float>(), (std::vector<float>{-3, -3, -3}));
  EXPECT_EQ(mul(a, b).to_vector<float>(), (std::vector<float>{4, 10, 18}));
  EXPECT_EQ(scale(a, 2).to_vector<float>(), (std::vector<float>{2, 4, 6}));
  Tensor m = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(add_bias(m, a).to_vector<float>(), (std::vector<float>{2, 4, 6, 5, 7, 9}));
  EXPECT_EQ(scale_rows(m, Tensor::from_vector<float>({2}, {2, -1})).to_vector<float>(),
            (std::vector<float>{2, 4, 6, -4, -5, -6}));
}

TEST(Elementwise, RejectsBadShapes) {
  EXPECT_THROW(add(Tensor::zeros({2}), Tensor::zeros({3})), Error);
  EXPECT_THROW(add(Tensor::zeros({2}), Tensor::zeros({2}, DType::kF64)), Error);
  EXPECT_THROW(add_bias(Tensor::zeros({2, 3}), Tensor::zeros({2})), Error);
  EXPECT_THROW(scale_rows(Tensor::zeros({2, 3}), Tensor::zeros({3})), Error);
  EXPECT_THROW(scale_rows(Tensor::zeros({2, 3}), Tensor::zeros({1})), Error);
  EXPECT_THROW(add(Tensor::zeros({2}, DType::kI32), Tensor::zeros({2}, DType::kI32)), Error);
}

TEST(Determinism, Elementwise) {
  test::expect_same_bits_for_1_and_2_threads([] {
    Tensor a = random_normal({300, 257}, 12, DType::kF32),
           b = random_normal({300, 257}, 13, DType::kF32);
    Tensor bias = random_normal({257}, 14, DType::kF32);
    Tensor y = add_bias(mul(add(a, b), sub(a, scale(b, 0.5))), bias);
    backward(sum(y));
    return std::vector<Tensor>{y, a.grad(), b.grad(), bias.grad()};
  });
}

}  // namespace
}  // namespace attn
