// Autograd tape: accumulation, NoGrad, release of saved tensors, intermediate grads freed.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "framework/autograd/tape.h"
#include "framework/core/allocator.h"
#include "framework/core/error.h"
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

// Records what backward reports, for the data-parallel hook.
struct Recorder final : BackwardObserver {
  std::vector<long> events;  // -1 = begin, -2 = end, else node index
  void begin(size_t) override { events.push_back(-1); }
  void node_done(size_t i) override { events.push_back(static_cast<long>(i)); }
  void end() override { events.push_back(-2); }
};

TEST(Tape, FirstUseAndObserverTellWhenALeafGradientIsFinal) {
  Tensor a = Tensor::from_vector<double>({2}, {1, 2}).set_requires_grad();
  Tensor b = Tensor::from_vector<double>({2}, {3, 4}).set_requires_grad();
  Tensor unused = Tensor::from_vector<double>({2}, {0, 0}).set_requires_grad();
  Tensor y = exp(a);     // node 0 reads a
  Tensor z = mul(y, b);  // node 1 reads b
  Tensor w = add(z, a);  // node 2 reads a again: its first use stays 0
  Tensor loss = sum(w);  // node 3
  EXPECT_EQ(first_use(a), 0u);
  EXPECT_EQ(first_use(b), 1u);
  EXPECT_EQ(first_use(unused), std::numeric_limits<size_t>::max());
  Recorder r;
  set_backward_observer(&r);
  backward(loss);
  set_backward_observer(nullptr);
  EXPECT_EQ(r.events, (std::vector<long>{-1, 3, 2, 1, 0, -2}));
  EXPECT_EQ(first_use(a), std::numeric_limits<size_t>::max());  // cleared with the tape
}

TEST(Tape, WritingAFrozenGradientFails) {
  Tensor a = Tensor::from_vector<double>({2}, {1, 2}).set_requires_grad();
  a.grad_or_zeros();
  a.impl().grad_frozen = true;
  Tensor loss = sum(exp(a));
  EXPECT_THROW(a.grad_or_zeros(), Error);
  a.impl().grad_frozen = false;
  backward(loss);
  EXPECT_NEAR(a.grad().to_vector<double>()[0], std::exp(1.0), 1e-12);
}

}  // namespace
}  // namespace attn
