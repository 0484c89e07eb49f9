// Results of a grid from hand-written metrics.jsonl files: only finished (DONE) runs count;
// results.md, results.csv and results_summary.csv hold the expected numbers; the plots decode.
#include "recipes/ablate/results.h"

#include <gtest/gtest.h>
#include <png.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "framework/io/file_util.h"
#include "framework/io/png_plot.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

// Pixels of colour `c` in a decoded PNG (0 when it does not decode).
size_t count_color(const std::string& path, Rgb c) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path.c_str())) {
    ADD_FAILURE() << path << ": not a PNG: " << img.message;
    return 0;
  }
  img.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> rgb(PNG_IMAGE_SIZE(img));
  EXPECT_TRUE(png_image_finish_read(&img, nullptr, rgb.data(), 0, nullptr)) << img.message;
  EXPECT_EQ(img.width, static_cast<unsigned>(kPlotWidth));
  size_t n = 0;
  for (size_t i = 0; i + 2 < rgb.size(); i += 3)
    n += rgb[i] == c.r && rgb[i + 1] == c.g && rgb[i + 2] == c.b;
  return n;
}

class ResultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir("ablate_results");
    std::ofstream(dir_ / "base.textproto")
        << "name: \"base\"\n"
        << "model { width: 32 layers: 1 heads: 2 seq_len: 32 mlp_ratio: 2 }\n"
        << "data { corpus: SHARDS train: \"train.bin\" val: \"val.bin\" batch_size: 4 }\n"
        << "optim { warmup_steps: 2 } train { steps: 3 }\n";
    std::ofstream(dir_ / "grid.textproto")
        << "name: \"g\" base: \"base.textproto\"\n"
        << "arm { name: \"a\" } arm { name: \"b\" set: \"optim.lr=1e-2\" }\n"
        << "seeds: [1, 2]\n"
        << "metric { key: \"val_loss\" }\n"
        << "metric { label: \"train_loss\" key: \"loss\" reduce: MEAN }\n"
        << "metric { key: \"attn/first_token_mass\" }\n"
        << "metric { key: \"grad_norm\" reduce: MAX }\n"
        << "metric { key: \"loss\" reduce: SPIKES }\n";
    plan_ = plan_ablation((dir_ / "grid.textproto").string(), {{}, (dir_ / "out").string()});
    // a/1, a/2 and b/1 finished; b/2 has metrics but no DONE (interrupted).
    write_run(0,
              {R"({"step":1,"loss":5,"grad_norm":1})", R"({"step":2,"loss":3})",
               R"({"step":3,"loss":1,"grad_norm":4})", R"({"step":3,"val_loss":2.0})",
               R"({"step":3,"attn/first_token_mass":0.5})"},
              true);
    write_run(1,
              {R"({"step":1,"loss":5})", R"({"step":2,"loss":4})", R"({"step":3,"loss":2})",
               R"({"step":3,"val_loss":3.0,"attn/first_token_mass":0.7})"},
              true);
    write_run(2,
              {R"({"step":1,"loss":6,"grad_norm":2})", R"({"step":2,"loss":2})",
               R"({"step":3,"loss":2})", R"({"step":3,"val_loss":1.5})"},
              true);
    write_run(3, {R"({"step":1,"loss":9,"val_loss":9})"}, false);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_run(size_t i, const std::vector<std::string>& rows, bool done) {
    const fs::path run(plan_.runs.at(i).run_dir);
    fs::create_directories(run);
    std::ofstream out(run / "metrics.jsonl");
    for (const std::string& r : rows) out << r << "\n";
    if (done) std::ofstream(run / kRunDoneMarker);
  }
  std::string out(const std::string& name) const { return (dir_ / "out" / name).string(); }

  fs::path dir_;
  AblationPlan plan_;
};

TEST_F(ResultsTest, OnlyFinishedRunsCount) {
  const AblationResults r = collect_results(plan_);
  ASSERT_EQ(r.runs.size(), 3u);
  ASSERT_EQ(r.arms.size(), 2u);
  EXPECT_EQ(r.arms[0].finished, 2);
  EXPECT_EQ(r.arms[1].finished, 1);
  EXPECT_EQ(r.arms[1].planned, 2);
  EXPECT_DOUBLE_EQ(r.arms[0].metrics[0].mean, 2.5);
  EXPECT_DOUBLE_EQ(r.arms[0].metrics[0].std, std::sqrt(0.5));
  EXPECT_DOUBLE_EQ(r.arms[0].metrics[1].mean, 2.5);  // MEAN of (3, 1) and (4, 2)
  EXPECT_EQ(r.arms[1].metrics[2].n, 0);              // b never logged attn/first_token_mass
  EXPECT_EQ(r.arms[0].metrics[3].n, 1);              // grad_norm only in a/1
  EXPECT_EQ(r.runs[0].steps, (std::vector<double>{1, 2, 3}));
}

TEST_F(ResultsTest, ResultsMarkdown) {
  write_results(plan_, collect_results(plan_), {"attnlab ablate grid.textproto", 12.5});
  const std::string md = read_file(out("results.md"));
  EXPECT_NE(md.find("| arm | seeds | val_loss | train_loss | attn/first_token_mass | "
                    "grad_norm_max | loss_spikes |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| a | 2 | 2.5000 ± 0.7071 | 2.5000 ± 0.7071 | 0.6000 ± 0.1414 | "
                    "4.0000 (n=1) | 0 ± 0 |"),
            std::string::npos)
      << md;
  // One finished seed of two: no ±; a key never logged: "-".
  EXPECT_NE(md.find("| b | 1 of 2 | 1.5000 | 2.0000 | - | 2.0000 | 0 |"), std::string::npos) << md;
  EXPECT_NE(md.find("attnlab ablate grid.textproto"), std::string::npos) << md;
  EXPECT_NE(md.find("12.5 s"), std::string::npos) << md;
  EXPECT_NE(md.find("`--set optim.lr=1e-2`"), std::string::npos) << md;
  EXPECT_NE(md.find("3 of 4 runs finished"), std::string::npos) << md;
}

TEST_F(ResultsTest, ResultsCsv) {
  write_results(plan_, collect_results(plan_), {"cmd", 1});
  EXPECT_EQ(read_file(out("results.csv")),
            "arm,seed,val_loss,train_loss,attn/first_token_mass,grad_norm_max,loss_spikes\n"
            "a,1,2,2,0.5,4,0\n"
            "a,2,3,3,0.7,,0\n"
            "b,1,1.5,2,,2,0\n");
  const std::string summary = read_file(out("results_summary.csv"));
  EXPECT_EQ(summary.substr(0, summary.find('\n')),
            "arm,n_seeds,val_loss_mean,val_loss_std,train_loss_mean,train_loss_std,"
            "attn/first_token_mass_mean,attn/first_token_mass_std,grad_norm_max_mean,"
            "grad_norm_max_std,loss_spikes_mean,loss_spikes_std");
  EXPECT_NE(summary.find("\na,2,2.5,0.7071067811865476,2.5,0.7071067811865476,"), std::string::npos)
      << summary;
  EXPECT_NE(summary.find("\nb,1,1.5,,2,,,,2,,0,\n"), std::string::npos) << summary;
}

TEST_F(ResultsTest, PlotsPerArmAndPerMetric) {
  const std::vector<std::string> written = write_results(plan_, collect_results(plan_), {"cmd", 1});
  for (const char* name :
       {"loss", "val_loss", "train_loss", "attn_first_token_mass", "grad_norm_max", "loss_spikes"})
    EXPECT_TRUE(fs::exists(out(std::string("plots/") + name + ".png"))) << name;
  EXPECT_EQ(written.size(), 3u + 6u);
  // One curve (and one bar) per arm, in the arms' colours.
  EXPECT_GT(count_color(out("plots/loss.png"), series_color(0)), 200u);
  EXPECT_GT(count_color(out("plots/loss.png"), series_color(1)), 200u);
  EXPECT_GT(count_color(out("plots/val_loss.png"), series_color(0)), 2000u);
  EXPECT_GT(count_color(out("plots/val_loss.png"), series_color(1)), 2000u);
  // b has no value: a's bar only.
  EXPECT_GT(count_color(out("plots/attn_first_token_mass.png"), series_color(0)), 2000u);
  EXPECT_EQ(count_color(out("plots/attn_first_token_mass.png"), series_color(1)), 0u);
}

TEST(BarChart, DegenerateInputsStillWriteAChart) {
  const fs::path dir = test::fresh_temp_dir("bar_chart");
  const std::string zeros = (dir / "zeros.png").string();
  write_bar_chart(zeros, "all zero", "count", {{"a", 0, 0}, {"b", 0, NAN}});
  EXPECT_GT(count_color(zeros, {0, 0, 0}), 100u);  // axes and labels
  const std::string empty = (dir / "empty.png").string();
  write_bar_chart(empty, "nothing", "y", {});
  write_bar_chart(empty, "no values", "y", {{"a", NAN, NAN}});
  EXPECT_EQ(count_color(empty, series_color(0)), 0u);
  const std::string negative = (dir / "negative.png").string();
  write_bar_chart(negative, "negative", "y", {{"a", -2, 0.5}, {"b", 3, 1}, {"c", INFINITY, 0}});
  EXPECT_GT(count_color(negative, series_color(0)), 1000u);
  EXPECT_GT(count_color(negative, series_color(1)), 1000u);
  EXPECT_EQ(count_color(negative, series_color(2)), 0u);
  fs::remove_all(dir);
}

TEST(FormatMeanStd, Cells) {
  EXPECT_EQ(format_mean_std({0, NAN, NAN}), "-");
  EXPECT_EQ(format_mean_std({1, 2.34567, NAN}), "2.3457");
  EXPECT_EQ(format_mean_std({3, 2.5, 0.25}), "2.5000 ± 0.2500");
  EXPECT_EQ(format_mean_std({2, 123456.0, 0.0001}), "1.235e+05 ± 1.000e-04");
}

}  // namespace
}  // namespace attn
