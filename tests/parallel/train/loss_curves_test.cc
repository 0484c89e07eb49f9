// Refactoring guard: the loss curves of every attention kind and of every gradient reduction
// (plain data parallel, ZeRO-1, the deterministic tree, alone and together) against curves
// recorded by an earlier build (testdata/recorded_loss_curves.json says which). Refactors of the
// trainer, the procedures and the variants must keep these curves.
//
// On the machine that recorded them the curves are equal to the bit; elsewhere OpenBLAS may pick
// other kernels (another core type sums in another order), so the check allows 1e-5 relative.
//
// Re-recording (only when a change is meant to alter the curves; say so in the commit):
//   ATTNLAB_RECORD_CURVES=1 ATTNLAB_CURVES_BINARY=<build>/tools/attnlab
//   ATTNLAB_CURVES_COMMIT=<its commit> build/tests/parallel/loss_curves_test
// (the binary defaults to this build's).
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/parallel/train/train_cli_fixture.h"

namespace attn {
namespace {

struct Case {
  std::string name;
  int np;  // 0: one process without mpirun
  std::string flags;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const char* kind : {"SOFTMAX", "SINK", "GATED", "AFFINE_SCALED", "DIFFERENTIAL",
                           "GROUPED_DIFFERENTIAL", "MOH"}) {
    // Four heads: grouped differential splits them 3:1, MoH routes three.
    out.push_back({kind, 0, std::string("--set model.heads=4 --set attention.kind=") + kind});
  }
  out.push_back({"dp_np2", 2, ""});
  out.push_back({"dp_micro2_np2", 2, "--set train.micro_batches=2"});
  out.push_back({"zero1_np2", 2, "--set parallel.zero1=true"});
  out.push_back({"tree_np2", 2, "--set parallel.deterministic_reduce=true"});
  out.push_back(
      {"tree_zero1_np2", 2, "--set parallel.deterministic_reduce=true --set parallel.zero1=true"});
  out.push_back({"grad_clip_off", 0, "--set optim.grad_clip=0"});
  return out;
}

class LossCurves : public test::MultiRankTrainCli {};

TEST_F(LossCurves, MatchTheRecordedCurves) {
  const bool record = std::getenv("ATTNLAB_RECORD_CURVES") != nullptr;
  if (const char* b = std::getenv("ATTNLAB_CURVES_BINARY")) binary_ = b;
  nlohmann::json recorded;
  if (!record) {
    std::ifstream in(ATTNLAB_RECORDED_CURVES);
    ASSERT_TRUE(in) << "missing " << ATTNLAB_RECORDED_CURVES;
    recorded = nlohmann::json::parse(in);
  }
  nlohmann::json curves;
  size_t identical = 0;  // cases whose curve has the recorded bits
  for (const Case& c : cases()) {
    test::CliResult r = train(c.np, c.name, c.flags);
    ASSERT_EQ(r.code, 0) << c.name << "\n" << r.output;
    const std::vector<double> got = losses(c.name);
    ASSERT_EQ(got.size(), 20u) << c.name;
    curves[c.name] = got;
    if (record) continue;
    ASSERT_TRUE(recorded["curves"].contains(c.name)) << c.name << " was not recorded";
    const std::vector<double> want = recorded["curves"][c.name].get<std::vector<double>>();
    ASSERT_EQ(want.size(), got.size()) << c.name;
    if (got == want) ++identical;
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-5 * std::abs(want[i])) << c.name << " step " << i + 1;
  }
  if (!record)
    std::printf("%zu of %zu curves bit-identical to the recording\n", identical, cases().size());
  if (record) {
    const std::string commit =
        std::getenv("ATTNLAB_CURVES_COMMIT") ? std::getenv("ATTNLAB_CURVES_COMMIT") : "";
    nlohmann::json out{{"recorded_with", binary_},
                       {"commit", commit},
                       {"recipe", "tests/parallel/train/train_cli_fixture.h, 20 steps"},
                       {"curves", curves}};
    std::ofstream(ATTNLAB_RECORDED_CURVES) << out.dump(1) << "\n";
    GTEST_SKIP() << "recorded " << ATTNLAB_RECORDED_CURVES;
  }
}

}  // namespace
}  // namespace attn
