// Autograd tape: accumulation, NoGrad, release of saved tensors, intermediate grads freed.
#include <gtest/gtest.h>

#include "framework/autograd/tape.h"
#include "framework/core/allocator.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/unary.h"

namespace attn {
namespace {

TEST(Tape, GradientsAccumulateAcrossUses) {
  Tensor x = Tensor::from_vector<double>({2}, {3, 4}).set_requires_grad();
  // y = x*x + x  =>  dy/dx = 2x + 1
  backward(sum(add(mul(x, x), x)));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{7, 9}));
  // A second backward accumulates into the same leaf gradient.
  backward(sum(x));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{8, 10}));
}

TEST(Tape, NoGradRecordsNothing) {
  Tensor x = Tensor::from_vector<double>({2}, {1, 2}).set_requires_grad();
  clear_tape();
  {
    NoGrad off;
    Tensor y = exp(x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(grad_enabled());
  }
  EXPECT_TRUE(grad_enabled());
  EXPECT_EQ(tape_size(), 0u);
}

TEST(Tape, BackwardClearsTapeAndFreesIntermediates) {
  Tensor x = Tensor::from_vector<double>({3}, {1, 2, 3}).set_requires_grad();
  Tensor h = exp(x);
  Tensor loss = sum(h);
  EXPECT_EQ(tape_size(), 2u);
  backward(loss);
  EXPECT_EQ(tape_size(), 0u);
  EXPECT_FALSE(h.has_grad()) << "intermediate gradient should be freed after use";
  EXPECT_TRUE(x.has_grad());
}

TEST(Tape, SavedActivationsAreReleasedAfterBackward) {
  Tensor x = Tensor::empty({1 << 18}).set_requires_grad();
  x.fill_(0.5);
  size_t before = allocator_stats(Device::cpu()).bytes_in_use;
  {
    Tensor loss = sum(tanh(exp(x)));
    backward(loss);
  }
  x.impl().grad.reset();
  EXPECT_EQ(allocator_stats(Device::cpu()).bytes_in_use, before);
}

TEST(Tape, UnreachedBranchesAreSkipped) {
  Tensor x = Tensor::from_vector<double>({2}, {1, 2}).set_requires_grad();
  Tensor unused = exp(x);  // recorded, never reaches the loss
  backward(sum(scale(x, 3.0)));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3, 3}));
}

TEST(Tape, BackwardRejectsNonScalarOrConstantLoss) {
  Tensor x = Tensor::from_vector<double>({2}, {1, 2}).set_requires_grad();
  EXPECT_THROW(backward(exp(x)), Error);
  clear_tape();
  EXPECT_THROW(backward(sum(Tensor::zeros({2}, DType::kF64))), Error);
}

}  // namespace
}  // namespace attn

namespace attn {
namespace {

// Documented contract: backward consumes the whole tape, so two losses are summed first.
TEST(Tape, BackwardConsumesTheWholeTape) {
  Tensor x = Tensor::from_vector<double>({1}, {2}).set_requires_grad();
  Tensor a = exp(x);
  Tensor b = scale(x, 3.0);
  backward(sum(b));
  EXPECT_EQ(tape_size(), 0u);
  EXPECT_EQ(x.grad().item(), 3.0);
  (void)a;
}

}  // namespace
}  // namespace attn
