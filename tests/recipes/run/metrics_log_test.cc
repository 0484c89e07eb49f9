// metrics.jsonl: append/read round trip, crash-torn last line, bad lines named, resume truncation.
#include "recipes/run/metrics_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/core/error.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

class MetricsLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir("metrics");
    path_ = (dir_ / "metrics.jsonl").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_raw(const std::string& text) { std::ofstream(path_, std::ios::binary) << text; }
  std::string read_raw() {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(MetricsLogTest, AppendReadRoundTripFlushesEveryRow) {
  MetricsLog log(path_);
  log.append({{"step", 1}, {"loss", 2.5}});
  // Flushed per row: another reader sees it while the log is still open.
  auto rows = read_metrics(path_);
  ASSERT_EQ(rows.size(), 1u);
  log.append({{"step", 2}, {"loss", 2.25}, {"val_loss", 2.75}, {"tag", "x"}});
  rows = read_metrics(path_);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["step"].get<int64_t>(), 1);
  EXPECT_DOUBLE_EQ(rows[1]["val_loss"].get<double>(), 2.75);
  EXPECT_EQ(rows[1]["tag"].get<std::string>(), "x");
  EXPECT_FALSE(rows[0].contains("val_loss"));
}

TEST_F(MetricsLogTest, NonFiniteValuesBecomeNullAndNonObjectsAreRejected) {
  MetricsLog log(path_);
  log.append({{"step", 1}, {"loss", std::nan("")}});
  EXPECT_THROW(log.append(nlohmann::json::array({1, 2})), Error);
  const auto rows = read_metrics(path_);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(rows[0]["loss"].is_null());
}

TEST_F(MetricsLogTest, TornLastLineIsToleratedAndCutBeforeAppending) {
  write_raw("{\"step\":1,\"loss\":3}\n{\"step\":2,\"lo");
  auto rows = read_metrics(path_);
  ASSERT_EQ(rows.size(), 1u);
  {
    MetricsLog log(path_);
    log.append({{"step", 2}, {"loss", 2}});
  }
  EXPECT_EQ(read_raw(), "{\"step\":1,\"loss\":3}\n{\"loss\":2,\"step\":2}\n");
  rows = read_metrics(path_);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1]["step"].get<int64_t>(), 2);
}

TEST_F(MetricsLogTest, CompleteLastLineWithoutNewlineIsKept) {
  write_raw("{\"step\":1}\n{\"step\":2}");
  EXPECT_EQ(read_metrics(path_).size(), 2u);
}

TEST_F(MetricsLogTest, BadMiddleLineNamesLineAndOffset) {
  write_raw("{\"step\":1}\n\n{\"step\":oops}\n{\"step\":3}\n");
  try {
    read_metrics(path_);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path_ + ":3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("byte offset 12"), std::string::npos) << msg;
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
  }
  write_raw("{\"step\":1}\n[1,2]\n");
  EXPECT_THROW(read_metrics(path_), Error);
}

TEST_F(MetricsLogTest, MissingFileIsAnInputError) {
  try {
    read_metrics((dir_ / "nope.jsonl").string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("nope.jsonl"), std::string::npos);
  }
}

TEST_F(MetricsLogTest, TruncateAfterDropsLaterStepsKeepsStepless) {
  write_raw(
      "{\"event\":\"start\"}\n{\"step\":1,\"loss\":3}\n{\"step\":2,\"loss\":2}\n"
      "{\"step\":3,\"loss\":1}\n{\"step\":2.5}\n{\"step\":4,\"lo");
  truncate_metrics_after(path_, 2);
  EXPECT_EQ(read_raw(),
            "{\"event\":\"start\"}\n{\"step\":1,\"loss\":3}\n{\"step\":2,\"loss\":2}\n");
  EXPECT_FALSE(fs::exists(path_ + ".tmp"));
  // Resume: appending continues after step 2 without duplicates.
  {
    MetricsLog log(path_);
    log.append({{"step", 3}});
  }
  const auto rows = read_metrics(path_);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[3]["step"].get<int64_t>(), 3);

  const std::string missing = (dir_ / "missing.jsonl").string();
  truncate_metrics_after(missing, 5);
  EXPECT_FALSE(fs::exists(missing));
}

TEST_F(MetricsLogTest, TruncateRefusesCorruptFileAndLeavesItUntouched) {
  const std::string text = "{\"step\":1}\nnot json\n{\"step\":3}\n";
  write_raw(text);
  EXPECT_THROW(truncate_metrics_after(path_, 1), Error);
  EXPECT_EQ(read_raw(), text);
}

TEST_F(MetricsLogTest, UnwritableLocationIsAnIoError) {
  EXPECT_THROW(MetricsLog((dir_ / "no_such_dir" / "m.jsonl").string()), Error);
}

TEST_F(MetricsLogTest, RenderPlotsWritesOnlyPlotsWithData) {
  {
    MetricsLog log(path_);
    for (int step = 1; step <= 40; ++step) {
      nlohmann::json row = {{"step", step}, {"loss", 3.0 / step}, {"lr", 1e-3}};
      if (step == 7) row["loss"] = std::nan("");  // logged as null: a gap, not an error
      log.append(row);
      if (step % 10 == 0) log.append({{"step", step}, {"val_loss", 3.5 / step}});
    }
    log.append({{"event", "done"}});
  }
  const std::vector<std::string> paths = render_plots(dir_.string());
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[0], (dir_ / "plots" / "loss.png").string());
  EXPECT_EQ(paths[1], (dir_ / "plots" / "lr.png").string());
  EXPECT_FALSE(fs::exists(dir_ / "plots" / "grad_norm.png"));
  EXPECT_FALSE(fs::exists(dir_ / "plots" / "throughput.png"));
  for (const std::string& p : paths) {
    std::ifstream in(p, std::ios::binary);
    std::string magic(8, '\0');
    in.read(magic.data(), 8);
    EXPECT_EQ(magic, "\x89PNG\r\n\x1a\n") << p;
    EXPECT_GT(fs::file_size(p), 1000u) << p;
  }
  EXPECT_THROW(render_plots((dir_ / "no_run").string()), Error);
}

}  // namespace
}  // namespace attn
