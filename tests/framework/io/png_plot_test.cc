// PNG line plots and heatmaps, decoded back with libpng: size, series colours present, labels
// drawn, and empty / NaN / mismatched input handled.
#include "framework/io/png_plot.h"
#include "framework/io/png_heatmap.h"

#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "framework/core/error.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  size_t count(Rgb c) const {
    size_t n = 0;
    for (size_t i = 0; i + 2 < rgb.size(); i += 3)
      n += rgb[i] == c.r && rgb[i + 1] == c.g && rgb[i + 2] == c.b;
    return n;
  }
  // Pixels of colour c inside columns [x0, x1).
  size_t count_in_columns(Rgb c, int x0, int x1) const {
    size_t n = 0;
    for (int y = 0; y < height; ++y)
      for (int x = x0; x < x1; ++x) {
        const uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
        n += p[0] == c.r && p[1] == c.g && p[2] == c.b;
      }
    return n;
  }
};

Image decode(const std::string& path) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path.c_str())) {
    ADD_FAILURE() << "not a PNG: " << img.message;
    return {};
  }
  img.format = PNG_FORMAT_RGB;
  Image out;
  out.width = static_cast<int>(img.width);
  out.height = static_cast<int>(img.height);
  out.rgb.resize(PNG_IMAGE_SIZE(img));
  EXPECT_TRUE(png_image_finish_read(&img, nullptr, out.rgb.data(), 0, nullptr)) << img.message;
  return out;
}

constexpr Rgb kBlackPixel{0, 0, 0};

class PngPlotTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::fresh_temp_dir("png"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(PngPlotTest, TwoSeriesInDistinctColoursWithLegendAndLabels) {
  Series train{"loss", {}, {}}, val{"val_loss", {}, {}};
  for (int i = 0; i <= 200; ++i) {
    train.xs.push_back(i);
    train.ys.push_back(3.0 * std::exp(-i / 50.0) + 0.5);
  }
  for (int i = 0; i <= 200; i += 50) {
    val.xs.push_back(i);
    val.ys.push_back(3.2 * std::exp(-i / 50.0) + 0.6);
  }
  ASSERT_NE(series_color(0), series_color(1));
  write_line_plot(path("loss.png"), "loss", "step", "loss", {train, val});
  EXPECT_FALSE(fs::exists(path("loss.png.tmp")));
  const Image img = decode(path("loss.png"));
  ASSERT_EQ(img.width, kPlotWidth);
  ASSERT_EQ(img.height, kPlotHeight);
  // A 200-step curve across ~860 px is drawn 2 px thick: hundreds of pixels of each colour.
  EXPECT_GT(img.count(series_color(0)), 800u);
  EXPECT_GT(img.count(series_color(1)), 300u);
  EXPECT_EQ(img.count(series_color(2)), 0u) << "only two series";
  // Tick labels and axis titles in the left margin are black text.
  EXPECT_GT(img.count_in_columns({0, 0, 0}, 0, 100), 200u);
  // The curve spans the plot area left to right (autoscaled x range).
  EXPECT_GT(img.count_in_columns(series_color(0), 110, 160), 0u);
  EXPECT_GT(img.count_in_columns(series_color(0), 900, 970), 0u);
}

TEST_F(PngPlotTest, NanAndInfAreGapsAndDoNotBreakScaling) {
  Series s{"lr", {0, 1, 2, 3, 4, 5}, {1e-3, NAN, 2e-3, INFINITY, 3e-3, -INFINITY}};
  write_line_plot(path("lr.png"), "learning rate", "step", "lr", {s});
  const Image img = decode(path("lr.png"));
  EXPECT_GT(img.count(series_color(0)), 50u);
}

TEST_F(PngPlotTest, EmptyAndAllNanInputStillWriteAPlot) {
  write_line_plot(path("empty.png"), "nothing", "x", "y", {});
  Image img = decode(path("empty.png"));
  EXPECT_EQ(img.width, kPlotWidth);
  EXPECT_GT(img.count({0, 0, 0}), 100u) << "axes and labels are drawn";

  Series nan{"grad_norm", {1, 2, 3}, {NAN, NAN, NAN}};
  write_line_plot(path("nan.png"), "grad norm", "step", "norm", {nan});
  img = decode(path("nan.png"));
  EXPECT_EQ(img.count(series_color(0)), 3u * 23u) << "only the 23x3 legend swatch";
}

TEST_F(PngPlotTest, LogScaleSkipsNonPositiveAndHandlesConstantSeries) {
  Series s{"loss", {1, 2, 3, 4, 5}, {10, 1, 0, -1, 0.01}};
  Series flat{"flat", {1, 2, 3}, {2, 2, 2}};
  write_line_plot(path("log.png"), "log", "step", "loss", {s, flat}, /*log_y=*/true);
  const Image img = decode(path("log.png"));
  EXPECT_GT(img.count(series_color(0)), 100u);
  EXPECT_GT(img.count(series_color(1)), 100u);
  // A single point is still visible as a marker.
  write_line_plot(path("one.png"), "one", "step", "v", {{"v", {7}, {7}}});
  EXPECT_GE(decode(path("one.png")).count(series_color(0)), 25u + 69u);
}

TEST_F(PngPlotTest, HugeAndTinyRangesTerminate) {
  Series big{"big", {1e17, 1e17 + 1}, {1e20, 1e20 + 1}};
  write_line_plot(path("big.png"), "big", "x", "y", {big});
  Series tiny{"tiny", {0, 1}, {1e-300, 2e-300}};
  write_line_plot(path("tiny.png"), "tiny", "x", "y", {tiny});
  EXPECT_EQ(decode(path("big.png")).width, kPlotWidth);
  EXPECT_EQ(decode(path("tiny.png")).width, kPlotWidth);
}

TEST_F(PngPlotTest, BadInputIsAnError) {
  Series bad{"bad", {1, 2}, {1}};
  EXPECT_THROW(write_line_plot(path("bad.png"), "t", "x", "y", {bad}), Error);
  EXPECT_FALSE(fs::exists(path("bad.png")));
  try {
    write_line_plot(path("missing_dir/p.png"), "t", "x", "y", {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("missing_dir"), std::string::npos) << e.what();
  }
}

TEST_F(PngPlotTest, HeatmapsShowPositiveBlueNegativeRedAndLabels) {
  // A causal 3 x 3 map with one negative weight, and a second map of the same size.
  Heatmap a{"head 0", 3, 3, {1, 0, 0, 0.5, 0.5, 0, 0.6, -0.2, 0.6}};
  Heatmap b{"head 1", 3, 3, {1, 0, 0, 0, 1, 0, 0, 0, 1}};
  write_heatmaps(path("h.png"), "layer 0", {a, b}, {"a", "b", "c"});
  const Image img = decode(path("h.png"));
  ASSERT_GT(img.width, 400);
  EXPECT_GT(img.count(Rgb{8, 48, 107}), 100u);  // the largest weight, full blue
  size_t reddish = 0;
  for (size_t i = 0; i + 2 < img.rgb.size(); i += 3)
    reddish += img.rgb[i] > img.rgb[i + 2] + 20 && img.rgb[i + 1] < img.rgb[i];
  EXPECT_GT(reddish, 100u);                // the negative cell
  EXPECT_GT(img.count(kBlackPixel), 50u);  // titles and labels
}

TEST_F(PngPlotTest, HeatmapBadInputIsAnError) {
  EXPECT_THROW(write_heatmaps(path("x.png"), "t", {}), Error);
  EXPECT_THROW(write_heatmaps(path("x.png"), "t", {Heatmap{"m", 2, 2, {1, 2, 3}}}), Error);
  EXPECT_THROW(write_heatmaps(path("x.png"), "t", {Heatmap{"m", 2, 2, {1, 2, 3, 4}}}, {"a"}),
               Error);
  EXPECT_FALSE(fs::exists(path("x.png")));
}

}  // namespace
}  // namespace attn
