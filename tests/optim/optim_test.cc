// Optimizers, schedules and gradient clipping against hand-computed values; checkpoint state
// round trips and rejection of mismatched state.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "framework/core/param_store.h"
#include "optim/adamw.h"
#include "optim/grad_clip.h"
#include "optim/schedule.h"
#include "optim/sgd.h"

namespace attn {
namespace {

TEST(Schedule, WarmupThenCosineAndLinear) {
  ScheduleOptions o{ScheduleKind::kCosine, 1.0, 4, 14, 0.1};
  EXPECT_DOUBLE_EQ(learning_rate(o, 0), 0.25);
  EXPECT_DOUBLE_EQ(learning_rate(o, 3), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(o, 4), 1.0);                // progress 0
  EXPECT_NEAR(learning_rate(o, 9), 0.1 + 0.9 * 0.5, 1e-15);  // halfway
  EXPECT_NEAR(learning_rate(o, 14), 0.1, 1e-15);
  EXPECT_NEAR(learning_rate(o, 100), 0.1, 1e-15);  // clamped past the end
  o.kind = ScheduleKind::kLinear;
  EXPECT_NEAR(learning_rate(o, 9), 1.0 - 0.9 * 0.5, 1e-15);
  o.kind = ScheduleKind::kConstant;
  EXPECT_DOUBLE_EQ(learning_rate(o, 9), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate({ScheduleKind::kCosine, 2.0, 0, 1, 0.0}, 0), 2.0);
}

struct TwoParams {
  ParamStore store{DType::kF64};
  Tensor a, b;
  TwoParams() {
    a = store.declare("a", {2}, ParamInit::zeros(), true);
    b = store.declare("b", {1}, ParamInit::zeros(), false);  // no weight decay
    store.finalize();
    a.data<double>()[0] = 1.0;
    a.data<double>()[1] = -2.0;
    b.data<double>()[0] = 0.5;
  }
  void set_grads(double ga0, double ga1, double gb) {
    a.grad().data<double>()[0] = ga0;
    a.grad().data<double>()[1] = ga1;
    b.grad().data<double>()[0] = gb;
  }
};

TEST(AdamW, TwoStepsMatchTheClosedForm) {
  TwoParams t;
  AdamW opt(t.store, {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.5});
  t.set_grads(0.3, -0.4, 2.0);
  opt.step();
  // Step 1: m_hat = g, v_hat = g^2 -> update lr * sign(g) (up to eps); decay only on `a`.
  double a0 = 1.0 * (1 - 0.1 * 0.5) - 0.1 * 0.3 / (0.3 + 1e-8);
  double b0 = 0.5 - 0.1 * 2.0 / (2.0 + 1e-8);
  EXPECT_NEAR(t.a.data<double>()[0], a0, 1e-14);
  EXPECT_NEAR(t.b.data<double>()[0], b0, 1e-14);
  t.set_grads(0.1, -0.4, 2.0);
  opt.step();
  const double m = 0.9 * 0.03 + 0.1 * 0.1, v = 0.99 * 0.0009 + 0.01 * 0.01;
  const double expect =
      a0 * (1 - 0.05) - 0.1 / (1 - 0.81) * m / (std::sqrt(v) / std::sqrt(1 - 0.9801) + 1e-8);
  EXPECT_NEAR(t.a.data<double>()[0], expect, 1e-14);
  EXPECT_EQ(opt.steps_taken(), 2);
}

TEST(AdamW, DecayAllPolicyDecaysEveryParameter) {
  TwoParams t;
  AdamW opt(t.store, {.lr = 0.1, .weight_decay = 0.5, .decay = DecayPolicy::kAll});
  t.set_grads(0, 0, 0);
  opt.step();
  EXPECT_NEAR(t.b.data<double>()[0], 0.5 * (1 - 0.05), 1e-15);
}

TEST(AdamW, StateRoundTripsAndRejectsMismatch) {
  TwoParams t;
  AdamW opt(t.store, {});
  t.set_grads(0.3, -0.4, 2.0);
  opt.step();
  auto state = opt.state();
  ASSERT_EQ(state.size(), 5u);  // exp_avg.{a,b}, exp_avg_sq.{a,b}, step
  EXPECT_EQ(state[0].first, "exp_avg.a");
  std::vector<std::pair<std::string, Tensor>> copy;
  for (auto& [n, s] : state) copy.emplace_back(n, s.to(DType::kF64).view(s.shape()));
  TwoParams u;
  AdamW fresh(u.store, {});
  fresh.load_state(copy);
  EXPECT_EQ(fresh.steps_taken(), 1);
  EXPECT_EQ(fresh.state()[2].second.to_vector<double>(), state[2].second.to_vector<double>());

  auto missing = copy;
  missing.erase(missing.begin() + 3);  // exp_avg_sq.b
  AdamW other(u.store, {});
  EXPECT_THROW(other.load_state(missing), Error);
  EXPECT_EQ(other.steps_taken(), 0);  // nothing was loaded
  auto wrong = copy;
  wrong[0].second = Tensor::zeros({3}, DType::kF64);
  EXPECT_THROW(other.load_state(wrong), Error);
}

// ZeRO-1 relies on it: optimizers over pieces of the flat buffer give the bits of one optimizer
// over all of it (the updates are elementwise).
TEST(Optimizers, RangesStepLikeTheWholeBuffer) {
  auto make_store = [] {
    auto store = std::make_unique<ParamStore>(DType::kF32);
    store->declare("w", {300}, ParamInit::normal(1.0), true);
    store->declare("b", {70}, ParamInit::normal(1.0), false);
    store->finalize();
    store->initialize(3);
    return store;
  };
  auto whole = make_store(), parts = make_store();
  const int64_t cut = 128;  // inside w
  const AdamWOptions a{.lr = 0.05, .weight_decay = 0.3};
  const SgdOptions s{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.3};
  AdamW aw(*whole, a), a0(*parts, a, {0, cut}), a1(*parts, a, {cut, -1});
  Sgd sw(*whole, s), s0(*parts, s, {0, cut}), s1(*parts, s, {cut, -1});
  EXPECT_EQ(a1.range().end, parts->padded_size());
  EXPECT_EQ(a0.flat_state()[0].second.numel(), cut);
  for (int step = 0; step < 3; ++step) {
    for (ParamStore* st : {whole.get(), parts.get()}) {
      float* g = st->flat_grads().data<float>();
      for (int64_t i = 0; i < st->padded_size(); ++i) g[i] = std::cos(0.1 * i + step);
    }
    aw.step(), a0.step(), a1.step();
    sw.step(), s0.step(), s1.step();
    EXPECT_EQ(whole->flat_params().to_vector<float>(), parts->flat_params().to_vector<float>());
  }
  EXPECT_THROW(AdamW(*whole, a, {cut, cut - 1}), Error);
}

TEST(Sgd, MomentumAndDecay) {
  TwoParams t;
  Sgd opt(t.store, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.5});
  t.set_grads(1.0, 0.0, 1.0);
  opt.step();
  opt.step();  // v = 0.9 * 1 + 1 = 1.9
  const double a1 = 1.0 - 0.1 * (1.0 + 0.5 * 1.0);
  EXPECT_NEAR(t.a.data<double>()[0], a1 - 0.1 * (1.9 + 0.5 * a1), 1e-14);
  EXPECT_NEAR(t.b.data<double>()[0], 0.5 - 0.1 * 1.0 - 0.1 * 1.9, 1e-14);
  EXPECT_EQ(opt.state().size(), 2u);
}

TEST(GradClip, ScalesToMaxNormLikeTorch) {
  TwoParams t;
  t.set_grads(3.0, 0.0, 4.0);
  EXPECT_DOUBLE_EQ(grad_norm(t.store), 5.0);
  EXPECT_DOUBLE_EQ(clip_grad_norm(t.store, 1.0), 5.0);
  const double c = 1.0 / (5.0 + 1e-6);
  EXPECT_DOUBLE_EQ(t.a.grad().data<double>()[0], 3.0 * c);
  EXPECT_DOUBLE_EQ(t.b.grad().data<double>()[0], 4.0 * c);
  t.set_grads(0.3, 0.0, 0.4);
  clip_grad_norm(t.store, 1.0);  // below the limit: untouched
  EXPECT_DOUBLE_EQ(t.a.grad().data<double>()[0], 0.3);
  EXPECT_DOUBLE_EQ(clip_grad_norm(t.store, 0.0), 0.5);  // 0 = measure only
}

// A frozen parameter (no op accumulates into its gradient any more) keeps its value under AdamW
// with weight decay; the parameters beside it still train.
TEST(AdamW, LeavesFrozenParametersUnchanged) {
  TwoParams t;
  t.store.freeze("a");
  EXPECT_FALSE(t.a.requires_grad());
  EXPECT_TRUE(t.store.find("a").frozen);
  EXPECT_EQ(t.store.num_trainable(), 1);
  t.set_grads(0.0, 0.0, 0.5);
  AdamW opt(t.store, {0.1, 0.9, 0.999, 1e-8, 0.5});
  opt.step();
  EXPECT_EQ(t.a.data<double>()[0], 1.0);
  EXPECT_EQ(t.a.data<double>()[1], -2.0);
  EXPECT_NE(t.b.data<double>()[0], 0.5);
  EXPECT_THROW(t.store.freeze("missing"), Error);
}

}  // namespace
}  // namespace attn
