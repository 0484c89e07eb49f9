// CAD training end to end: `mpirun -np 4 attnlab train` with parallel.mode CAD on a tiny GQA
// model gives the losses of plain data parallelism (the forward is bit-identical, the dK/dV sums
// differ only in order), the same bits in both backward modes, and checkpoints that resume
// across the two modes; what CAD cannot move is refused.
#include "tests/parallel/train/train_cli_fixture.h"

namespace attn {
namespace {

// Long-tailed rows for a 32-token model: the word corpus's documents packed as they come, GQA,
// and tiles and slices small enough for the planner to cut documents.
const std::string kCad =
    "--set data.pack_documents=true --set model.kv_heads=1 --set train.steps=50 "
    "--set train.checkpoint_every=25 --set attention.block_q=8 --set parallel.cad.min_slice=8 ";

class CadCli : public test::MultiRankTrainCli {
 protected:
  static void expect_close(const std::vector<double>& a, const std::vector<double>& b) {
    ASSERT_EQ(a.size(), b.size());
    ASSERT_EQ(a.size(), 50u);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6 * std::abs(a[i])) << i;
  }
  double total_moves(const std::string& name) const {
    double moves = 0;
    for (const auto& row : read_metrics(run(name) + "/metrics.jsonl"))
      if (row.contains("cad/moves")) moves += row["cad/moves"].get<double>();
    return moves;
  }
};

TEST_F(CadCli, FourRanksMatchDataParallelInBothBackwardModes) {
  ASSERT_EQ(train(4, "dp", kCad).code, 0);
  test::CliResult r = train(4, "cad", kCad + "--set parallel.mode=CAD");
  ASSERT_EQ(r.code, 0) << r.output;
  expect_close(losses("dp"), losses("cad"));
  EXPECT_GT(total_moves("cad"), 0);
  ASSERT_EQ(
      train(4, "resend", kCad + "--set parallel.mode=CAD --set parallel.cad.backward=RESEND").code,
      0);
  EXPECT_EQ(losses("cad"), losses("resend"));
}

TEST_F(CadCli, CheckpointsResumeAcrossModes) {
  ASSERT_EQ(train(2, "cad", kCad + "--set parallel.mode=CAD").code, 0);
  // Stopped under CAD, finished as plain data parallel, and the other way round.
  ASSERT_EQ(train(2, "a", kCad + "--set parallel.mode=CAD --stop-after 25").code, 0);
  test::CliResult r = train(2, "a", kCad + "--resume");
  ASSERT_EQ(r.code, 0) << r.output;
  expect_close(losses("cad"), losses("a"));
  ASSERT_EQ(train(2, "b", kCad + "--stop-after 25").code, 0);
  r = train(2, "b", kCad + "--set parallel.mode=CAD --resume");
  ASSERT_EQ(r.code, 0) << r.output;
  expect_close(losses("cad"), losses("b"));
}

TEST_F(CadCli, PlansWithACalibratedCostModel) {
  const std::string curve = (dir_ / "curve.json").string();
  // Pairs dominate (a curve whose per-row term outweighed these short documents' pairs would
  // find equal token shares balanced already).
  std::ofstream(curve) << R"({"per_pair_ns": 50, "per_row_ns": 0, "per_task_ns": 500,
                              "heads": 4, "dim": 64, "mode": "fwdbwd"})";
  test::CliResult r = train(4, "calibrated",
                            kCad +
                                "--set parallel.mode=CAD --set parallel.cad.cost_model=CALIBRATED "
                                "--set parallel.cad.calibration=" +
                                curve);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_GT(total_moves("calibrated"), 0);
  r = train(2, "missing",
            kCad +
                "--set parallel.mode=CAD --set parallel.cad.cost_model=CALIBRATED "
                "--set parallel.cad.calibration=" +
                curve + ".gone");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("curve.json.gone"), std::string::npos) << r.output;
}

TEST_F(CadCli, RefusesWhatItCannotMove) {
  const std::pair<std::string, std::string> cases[] = {
      {"--set attention.kind=SINK", "attention.kind"},
      {"--set attention.window=8", "attention.window"},
      {"--set losses.aem.weight=0.1", "losses.aem.weight"},
      {"--set parallel.cad.ping_pong=true", "CAD ping-pong"},
      {"--set parallel.cad.cost_model=CALIBRATED", "parallel.cad.calibration"},
  };
  for (const auto& [set, fragment] : cases) {
    test::CliResult r = train(0, "refused", kCad + "--set parallel.mode=CAD " + set);
    EXPECT_EQ(r.code, 2) << set << "\n" << r.output;
    EXPECT_NE(r.output.find(fragment), std::string::npos) << set << "\n" << r.output;
  }
}

}  // namespace
}  // namespace attn
