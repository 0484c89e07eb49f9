// Data parallelism end to end: `mpirun -np N attnlab train` with the same global batch as one
// process gives the same loss curve and the same final weights (up to float reassociation of
// the gradient sums); a 2-rank run stopped and resumed continues bit for bit; the attention
// buffer of AFFINE_SCALED (a moving average of per-rank batch means) stays in step.
#include "tests/parallel/train/train_cli_fixture.h"

#include <chrono>

namespace attn {
namespace {

class DataParallelCli : public test::MultiRankTrainCli {};

TEST_F(DataParallelCli, TwoAndFourRanksMatchOneRank) {
  test::CliResult one = train(0, "one");
  ASSERT_EQ(one.code, 0) << one.output;
  for (int np : {2, 4}) {
    const std::string name = "np" + std::to_string(np);
    test::CliResult r = train(np, name);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("run directory"), std::string::npos) << r.output;  // rank 0 reports
    expect_close(losses("one"), losses(name));
    EXPECT_LT(weight_difference("one", name), 1e-3) << name;  // < one lr (3e-3) step
  }
}

TEST_F(DataParallelCli, BuffersStayInStepAcrossRanks) {
  const std::string affine = "--set attention.kind=AFFINE_SCALED";
  ASSERT_EQ(train(0, "a1", affine).code, 0);
  test::CliResult r = train(2, "a2", affine);
  ASSERT_EQ(r.code, 0) << r.output;
  expect_close(losses("a1"), losses("a2"));
}

TEST_F(DataParallelCli, StoppedRunResumesBitForBitOnTwoRanks) {
  ASSERT_EQ(train(2, "full").code, 0);
  ASSERT_EQ(train(2, "part", "--stop-after 10").code, 0);
  test::CliResult r = train(2, "part", "--resume");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(losses("full"), losses("part"));
}

TEST_F(DataParallelCli, AnErrorOnOneRankEndsTheJob) {
  // Rank 0 refuses to overwrite an existing run while the others are ready to train.
  ASSERT_EQ(train(0, "taken", "--stop-after 2").code, 0);
  test::CliResult r = train(2, "taken");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("rank 0: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("already holds a run"), std::string::npos) << r.output;
}

TEST_F(DataParallelCli, ARankThrowingAtStepThreeEndsTheJobQuickly) {
  const auto t0 = std::chrono::steady_clock::now();
  test::CliResult r = train(2, "fault", "", true, "ATTNLAB_FAULT_INJECT=step_3_rank_1");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_LT(seconds, 30.0);
  EXPECT_NE(r.output.find("rank 1: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("injected fault at step_3_rank_1"), std::string::npos) << r.output;
}

TEST_F(DataParallelCli, ManyRanksNeedDataParallelMode) {
  test::CliResult r = train(2, "none", "--set parallel.mode=NONE");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("parallel.mode"), std::string::npos) << r.output;
  for (const char* option : {"zero1", "deterministic_reduce"}) {
    test::CliResult z = train(
        0, "alone", std::string("--set parallel.mode=NONE --set parallel.") + option + "=true");
    EXPECT_EQ(z.code, 2) << z.output;
    EXPECT_NE(z.output.find("needs parallel.mode DATA_PARALLEL"), std::string::npos) << z.output;
  }
}

}  // namespace
}  // namespace attn
