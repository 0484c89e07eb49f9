// Tensor basics: creation, views that share storage, copies, dtype conversion, errors.
#include <gtest/gtest.h>

#include "framework/core/bf16.h"
#include "framework/core/tensor.h"
#include "framework/kernels/cuda/runtime.h"

namespace attn {
namespace {

TEST(Tensor, FromVectorRoundTrip) {
  Tensor t = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(t.shape(), Shape({2, 3}));
  EXPECT_EQ(t.dtype(), DType::kF32);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(t.str(), "f32[2, 3] on cpu");
}

TEST(Tensor, Slice0AndViewShareStorage) {
  Tensor t = Tensor::from_vector<double>({3, 2}, {0, 1, 2, 3, 4, 5});
  Tensor rows = t.slice0(1, 3);
  EXPECT_EQ(rows.shape(), Shape({2, 2}));
  EXPECT_EQ(rows.to_vector<double>(), (std::vector<double>{2, 3, 4, 5}));
  rows.data<double>()[0] = 42;  // a view, not a copy
  EXPECT_EQ(t.to_vector<double>()[2], 42);
  Tensor flat = t.view({6});
  EXPECT_EQ(flat.data<double>(), t.data<double>());
  EXPECT_THROW(t.view({4}), Error);
  EXPECT_THROW(t.slice0(2, 4), Error);
}

TEST(Tensor, CloneIsDeep) {
  Tensor t = Tensor::full({4}, 1.5);
  Tensor c = t.clone();
  c.fill_(2.0);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>(4, 1.5f)));
}

TEST(Tensor, DtypeConversion) {
  Tensor t = Tensor::from_vector<double>({3}, {1.25, -2.5, 7});
  EXPECT_EQ(t.to(DType::kF32).to_vector<float>(), (std::vector<float>{1.25f, -2.5f, 7}));
  EXPECT_EQ(t.to(DType::kI64).to_vector<int64_t>(), (std::vector<int64_t>{1, -2, 7}));
  EXPECT_EQ(t.to(DType::kBF16).to_vector<double>(), (std::vector<double>{1.25, -2.5, 7}));
}

TEST(Tensor, Bf16RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f)), 1.0f);
  // 1 + 2^-8 is exactly halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to even (1).
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 0x1p-8f)), 1.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 0x1p-8f + 0x1p-16f)), 1.0f + 0x1p-7f);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
}

TEST(Tensor, WrongDtypeAccessThrows) {
  Tensor t = Tensor::zeros({2});
  EXPECT_THROW(t.data<double>(), Error);
  EXPECT_THROW(Tensor().shape(), Error);
  EXPECT_THROW(Tensor::from_vector<float>({3}, {1, 2}), Error);
}

TEST(Tensor, IntegerTensorsCannotRequireGrad) {
  Tensor ids = Tensor::zeros({2}, DType::kI32);
  EXPECT_THROW(ids.set_requires_grad(), Error);
}

TEST(Tensor, ShapeLimitsAndNegativeAxes) {
  Shape s({2, 3, 4});
  EXPECT_EQ(s[-1], 4);
  EXPECT_EQ(s.numel(), 24);
  EXPECT_THROW(s.axis(3), Error);
  EXPECT_THROW(Shape({1, 1, 1, 1, 1, 1, 1}), Error);
  EXPECT_EQ(Shape({}).numel(), 1);
}

TEST(Tensor, CudaAllocationFailsClearlyWithoutDevice) {
  if (cuda::device_count() > 0) GTEST_SKIP() << "a CUDA device is present; covered by GPU tests";
  EXPECT_THROW(Tensor::zeros({4}, DType::kF32, Device::cuda()), Error);
}

}  // namespace
}  // namespace attn
