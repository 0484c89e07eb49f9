// ParamStore: one flat buffer, named views, aligned and padded layout, gradients as views.
#include <gtest/gtest.h>

#include "framework/core/param_store.h"

namespace attn {
namespace {

TEST(ParamStore, FlatLayoutAlignedAndPadded) {
  ParamStore store;
  Tensor a = store.declare("a", {3, 5});
  Tensor b = store.declare("b", {7}, ParamInit::zeros(), false);
  EXPECT_THROW(a.raw(), Error) << "no memory before finalize";
  store.finalize();
  EXPECT_EQ(store.params()[0].offset, 0);
  EXPECT_EQ(store.params()[1].offset, 16);  // 15 rounded up to the 16-element alignment
  EXPECT_EQ(store.num_elements(), 22);
  EXPECT_EQ(store.padded_size(), 64);
  EXPECT_EQ(a.data<float>(), store.flat_params().data<float>());
  EXPECT_EQ(b.data<float>(), store.flat_params().data<float>() + 16);
  EXPECT_EQ(a.grad().data<float>(), store.flat_grads().data<float>());
  EXPECT_TRUE(a.requires_grad());
}

TEST(ParamStore, PadToWorldSizeMultiple) {
  ParamStore store;
  store.declare("w", {100});
  store.finalize(/*pad_multiple=*/3);
  EXPECT_EQ(store.padded_size() % 3, 0);
  EXPECT_EQ(store.padded_size() % 64, 0);
  EXPECT_GE(store.padded_size(), 100);
}

TEST(ParamStore, InitializeIsDeterministicAndFollowsInit) {
  auto make = [](uint64_t seed) {
    ParamStore s;
    s.declare("w", {64}, ParamInit::normal(0.02));
    s.declare("g", {4}, ParamInit::ones());
    s.finalize();
    s.initialize(seed);
    return s.flat_params().to_vector<float>();
  };
  std::vector<float> x = make(1), y = make(1), z = make(2);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
  EXPECT_EQ(x[64], 1.0f);
  EXPECT_EQ(x[67], 1.0f);
  double sq = 0;
  for (int i = 0; i < 64; ++i) sq += double(x[i]) * x[i];
  EXPECT_NEAR(std::sqrt(sq / 64), 0.02, 0.008);
}

TEST(ParamStore, ZeroGradAndStateBuffers) {
  ParamStore store;
  Tensor w = store.declare("w", {8});
  store.finalize();
  w.grad().fill_(3.0);
  store.zero_grad();
  for (float g : w.grad().to_vector<float>()) EXPECT_EQ(g, 0.0f);
  Tensor m = store.new_state_buffer();
  EXPECT_EQ(m.numel(), store.padded_size());
}

TEST(ParamStore, RejectsMisuse) {
  ParamStore store;
  store.declare("w", {2});
  EXPECT_THROW(store.declare("w", {3}), Error);
  EXPECT_THROW(store.zero_grad(), Error);
  store.finalize();
  EXPECT_THROW(store.declare("v", {1}), Error);
  EXPECT_THROW(store.find("missing"), Error);
  EXPECT_EQ(store.find("w").tensor.numel(), 2);
}

}  // namespace
}  // namespace attn
