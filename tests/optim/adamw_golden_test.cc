// AdamW, the learning-rate schedules and global gradient clipping against torch.optim.AdamW,
// torch.nn.utils.clip_grad_norm_ and the schedule formula (tests/reference/model_fixtures.py):
// six steps of a decayed [5, 3] and an undecayed [4] parameter with fixed gradients, whose norms
// fall on both sides of max_norm so clipping is exercised both ways.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "framework/core/param_store.h"
#include "framework/io/safetensors.h"
#include "optim/adamw.h"
#include "optim/grad_clip.h"
#include "optim/schedule.h"
#include "tests/support/fixtures.h"

namespace attn {
namespace {

constexpr double kTol = 1e-12;

double meta_num(const SafetensorsFile& f, const std::string& key) {
  auto it = f.metadata.find(key);
  if (it == f.metadata.end()) ATTN_FAIL(kInput, "{}: no metadata key '{}'", f.path, key);
  return std::stod(it->second);
}

double max_abs_diff(const Tensor& got, const Tensor& want) {
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < std::min(g.size(), w.size()); ++i) m = std::max(m, std::abs(g[i] - w[i]));
  return m;
}

TEST(AdamWGolden, ScheduleClipAndSixStepsMatchTorch) {
  const SafetensorsFile f = test::load_fixture("adamw.safetensors");
  const int64_t steps = static_cast<int64_t>(meta_num(f, "steps"));
  ASSERT_EQ(steps, 6);

  ParamStore store(DType::kF64);
  Tensor p0 = store.declare("p0", f.get("init.p0").shape(), ParamInit::zeros(), true);
  Tensor p1 = store.declare("p1", f.get("init.p1").shape(), ParamInit::zeros(), false);
  store.finalize();
  p0.copy_from(f.get("init.p0"));
  p1.copy_from(f.get("init.p1"));

  AdamW opt(store, {.lr = meta_num(f, "lr"),
                    .beta1 = meta_num(f, "beta1"),
                    .beta2 = meta_num(f, "beta2"),
                    .eps = meta_num(f, "eps"),
                    .weight_decay = meta_num(f, "weight_decay")});
  ScheduleOptions cosine{
      ScheduleKind::kCosine, meta_num(f, "lr"), static_cast<int64_t>(meta_num(f, "warmup_steps")),
      static_cast<int64_t>(meta_num(f, "total_steps")), meta_num(f, "min_lr_ratio")};
  ScheduleOptions linear = cosine;
  linear.kind = ScheduleKind::kLinear;
  const double max_norm = meta_num(f, "max_norm");

  const std::vector<double> want_lr = f.get("lr").to_vector<double>();
  const std::vector<double> want_lr_linear = f.get("lr_linear").to_vector<double>();
  const std::vector<double> want_norm = f.get("grad_norm").to_vector<double>();
  ASSERT_EQ(want_lr.size(), static_cast<size_t>(steps));
  ASSERT_EQ(want_lr_linear.size(), static_cast<size_t>(steps));
  ASSERT_EQ(want_norm.size(), static_cast<size_t>(steps));

  int clipped = 0;
  double worst_param = 0;
  for (int64_t s = 0; s < steps; ++s) {
    const std::string tag = std::to_string(s);
    p0.grad().copy_from(f.get("grad." + tag + ".p0"));
    p1.grad().copy_from(f.get("grad." + tag + ".p1"));
    const double norm = clip_grad_norm(store, max_norm);
    EXPECT_LE(std::abs(norm - want_norm[s]), kTol * want_norm[s]) << "grad norm, step " << s;
    clipped += norm > max_norm;

    const double lr = learning_rate(cosine, s);
    EXPECT_LE(std::abs(lr - want_lr[s]), kTol * want_lr[s]) << "cosine lr, step " << s;
    const double lr_lin = learning_rate(linear, s);
    EXPECT_LE(std::abs(lr_lin - want_lr_linear[s]), kTol * want_lr_linear[s])
        << "linear lr, step " << s;

    opt.set_lr(lr);
    opt.step();
    const Tensor& want0 = f.get("after." + tag + ".p0");
    const Tensor& want1 = f.get("after." + tag + ".p1");
    EXPECT_TRUE(test::all_close(p0, want0, kTol, kTol)) << "p0 after step " << s;
    EXPECT_TRUE(test::all_close(p1, want1, kTol, kTol)) << "p1 after step " << s;
    worst_param = std::max({worst_param, max_abs_diff(p0, want0), max_abs_diff(p1, want1)});
  }
  std::printf("adamw: worst parameter error %.3g (tolerance %.0e)\n", worst_param, kTol);
  // The fixture must exercise both branches of clipping, or the test proves half of it.
  EXPECT_GT(clipped, 0);
  EXPECT_LT(clipped, steps);
  EXPECT_EQ(opt.steps_taken(), steps);
}

}  // namespace
}  // namespace attn
