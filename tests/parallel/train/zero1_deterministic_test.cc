// ZeRO-1 and the deterministic reduction end to end, through `attnlab train` under mpirun:
// deterministic N ranks == 1 rank to the bit; ZeRO-1 == plain data parallelism (to the bit in
// deterministic mode, optimizer state included); a ZeRO-1 checkpoint written on 4 ranks
// continues bit for bit on 4 ranks, and on 2 (checkpoints are layout-free).
#include "tests/parallel/train/train_cli_fixture.h"

namespace attn {
namespace {

class Zero1DeterministicCli : public test::MultiRankTrainCli {};

const std::string kDeterministic = "--set parallel.deterministic_reduce=true";
const std::string kZero1 = "--set parallel.zero1=true";

TEST_F(Zero1DeterministicCli, DeterministicReductionOnTwoAndFourRanksEqualsOneRankBitForBit) {
  test::CliResult one = train(0, "one", kDeterministic);
  ASSERT_EQ(one.code, 0) << one.output;
  for (int np : {2, 4}) {
    const std::string name = "np" + std::to_string(np);
    test::CliResult r = train(np, name, kDeterministic);
    ASSERT_EQ(r.code, 0) << r.output;
    ASSERT_EQ(losses(name).size(), 20u);
    EXPECT_EQ(losses("one"), losses(name)) << name;
    EXPECT_EQ(weight_difference("one", name), 0.0) << name;
    EXPECT_EQ(weight_difference("one", name, "optimizer.safetensors"), 0.0) << name;
  }
}

TEST_F(Zero1DeterministicCli, Zero1EqualsPlainDataParallel) {
  ASSERT_EQ(train(2, "dp").code, 0);
  test::CliResult z = train(2, "zero", kZero1);
  ASSERT_EQ(z.code, 0) << z.output;
  expect_close(losses("dp"), losses("zero"));
  EXPECT_LT(weight_difference("dp", "zero"), 1e-3);
  // Deterministic: the same bits, weights and (gathered) optimizer state alike.
  ASSERT_EQ(train(0, "det", kDeterministic).code, 0);
  test::CliResult dz = train(4, "det_zero", kDeterministic + " " + kZero1);
  ASSERT_EQ(dz.code, 0) << dz.output;
  EXPECT_EQ(losses("det"), losses("det_zero"));
  EXPECT_EQ(weight_difference("det", "det_zero"), 0.0);
  EXPECT_EQ(weight_difference("det", "det_zero", "optimizer.safetensors"), 0.0);
}

TEST_F(Zero1DeterministicCli, Zero1CheckpointOnFourRanksResumesBitForBit) {
  const std::string flags = kDeterministic + " " + kZero1;
  ASSERT_EQ(train(4, "full", flags).code, 0);
  ASSERT_EQ(train(4, "four", flags + " --stop-after 10").code, 0);
  test::CliResult r = train(4, "four", flags + " --resume", /*quiet=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_EQ(losses("full"), losses("four"));
  EXPECT_EQ(weight_difference("full", "four"), 0.0);
  // Another world size re-cuts the shards from the per-parameter state.
  ASSERT_EQ(train(4, "two", flags + " --stop-after 10").code, 0);
  r = train(2, "two", flags + " --resume", /*quiet=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_EQ(losses("full"), losses("two"));
  EXPECT_EQ(weight_difference("full", "two"), 0.0);
}

TEST_F(Zero1DeterministicCli, BadGroupSettingsAreConfigErrors) {
  struct Case {
    int np;
    std::string flags, message;
  };
  const Case cases[] = {
      {0, "--set parallel.reduce_groups=6", "power-of-two number of groups"},
      {4, "--set parallel.reduce_groups=2", "got 2 groups on 4 ranks"},
      {0, "--set train.micro_batches=2", "leave train.micro_batches at 1"},
      {0, "--set parallel.reduce_groups=16", "does not split into 16 groups"},
  };
  for (const Case& c : cases) {
    test::CliResult r = train(c.np, "bad", kDeterministic + " " + c.flags);
    EXPECT_EQ(r.code, 2) << c.flags << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.flags << "\n" << r.output;
  }
}

}  // namespace
}  // namespace attn
