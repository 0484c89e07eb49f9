// reshape / slice / concat / split / transpose_last2: gradient checks, views, errors.
#include <gtest/gtest.h>

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/shape.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::gradcheck;
using test::random_normal;

TEST(Gradcheck, Reshape) {
  EXPECT_TRUE(gradcheck(
      [](auto& in) {
        return reshape(in[0], {3, -1});
      },
      {random_normal({2, 3, 2}, 1)}));
}

TEST(Gradcheck, Slice) {
  Tensor x = random_normal({4, 5, 3}, 2);
  EXPECT_TRUE(gradcheck([](auto& in) { return slice(in[0], 0, 1, 3); }, {x}));
  EXPECT_TRUE(gradcheck([](auto& in) { return slice(in[0], 1, 2, 5); }, {x}));
  EXPECT_TRUE(gradcheck([](auto& in) { return slice(in[0], -1, 0, 1); }, {x}));
}

TEST(Gradcheck, Concat) {
  Tensor a = random_normal({2, 3}, 3), b = random_normal({2, 1}, 4), c = random_normal({2, 2}, 5);
  EXPECT_TRUE(gradcheck([](auto& in) { return concat({in[0], in[1], in[2]}, 1); }, {a, b, c}));
  Tensor d = random_normal({1, 3}, 6);
  EXPECT_TRUE(gradcheck([](auto& in) { return concat({in[0], in[1]}, 0); }, {a, d}));
}

TEST(Gradcheck, Split) {
  Tensor x = random_normal({2, 7}, 7);
  // Combine the pieces so every output's gradient flows back: [p0 | p2] and p1 weighted alike.
  EXPECT_TRUE(gradcheck(
      [](auto& in) {
        std::vector<Tensor> p = split(in[0], 1, {3, 1, 3});
        return concat({p[2], p[1], p[0]}, 1);
      },
      {x}));
}

TEST(Gradcheck, TransposeLast2) {
  EXPECT_TRUE(
      gradcheck([](auto& in) { return transpose_last2(in[0]); }, {random_normal({2, 3, 4}, 8)}));
  EXPECT_TRUE(
      gradcheck([](auto& in) { return transpose_last2(in[0]); }, {random_normal({1, 5}, 9)}));
}

TEST(Shape, ReshapeAndFirstAxisSliceAreViews) {
  Tensor x = random_normal({4, 6}, 10, DType::kF32, 1.0, false);
  EXPECT_EQ(reshape(x, {2, 12}).raw(), x.raw());
  EXPECT_EQ(slice(x, 0, 1, 3).raw(), static_cast<float*>(x.raw()) + 6);
}

TEST(Shape, Values) {
  Tensor x = Tensor::from_vector<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(transpose_last2(x).to_vector<int32_t>(), (std::vector<int32_t>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(slice(x, 1, 1, 3).to_vector<int32_t>(), (std::vector<int32_t>{2, 3, 5, 6}));
  EXPECT_EQ(concat({x, x}, 0).shape(), Shape({4, 3}));
  std::vector<Tensor> parts = split(x, 1, {1, 2});
  EXPECT_EQ(parts[1].to_vector<int32_t>(), (std::vector<int32_t>{2, 3, 5, 6}));
}

TEST(Shape, RejectsBadArguments) {
  Tensor x = Tensor::zeros({2, 3});
  EXPECT_THROW(reshape(x, {4, 2}), Error);
  EXPECT_THROW(reshape(x, {-1, -1}), Error);
  EXPECT_THROW(slice(x, 1, 2, 4), Error);
  EXPECT_THROW(concat({x, Tensor::zeros({3, 3})}, 1), Error);
  EXPECT_THROW(split(x, 1, {1, 1}), Error);
}

TEST(Determinism, Shape) {
  test::expect_same_bits_for_1_and_2_threads([] {
    Tensor x = random_normal({64, 300, 7}, 11, DType::kF32);
    Tensor y = transpose_last2(concat(split(x, 1, {100, 200}), 1));
    Tensor z = slice(x, 2, 1, 5);
    backward(add(sum(y), sum(z)));
    return std::vector<Tensor>{y, z, x.grad()};
  });
}

}  // namespace
}  // namespace attn
