// Line plots and bar charts as PNG files (libpng) for run directories: axes, numeric ticks,
// several series in distinct colours, a legend, autoscaling over finite values only, optional log
// y.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace attn {

struct Series {
  std::string name;
  std::vector<double> xs, ys;  // same length; NaN/inf points (and y <= 0 on log axes) are gaps
};

struct Rgb {
  uint8_t r, g, b;
  bool operator==(const Rgb&) const = default;
};

// Colour of the i-th series (cycles after eight).
Rgb series_color(size_t i);

inline constexpr int kPlotWidth = 1000;
inline constexpr int kPlotHeight = 600;

// Writes a kPlotWidth x kPlotHeight RGB PNG atomically (temp file, fsync, rename). Series with no
// plottable point still get a legend entry; with no data at all the axes say "no data".
// Throws attn::Error: kShape when a series' xs and ys differ in length, kIo on write failure.
void write_line_plot(const std::string& path, const std::string& title, const std::string& x_label,
                     const std::string& y_label, const std::vector<Series>& series,
                     bool log_y = false);

struct Bar {
  std::string name;  // drawn under the bar
  double value;      // NaN/inf: no bar (the name is still drawn)
  double error = 0;  // whisker half-length (e.g. one standard deviation); NaN or <= 0: none
};

// Writes a kPlotWidth x kPlotHeight bar chart atomically: bar i in series_color(i), whiskers at
// value +- error, names below. The y axis starts at 0 unless every bar is far from it (all
// values above half the largest, say), then it spans the bars and whiskers and bars rise from
// its bottom; the tick labels say which. Throws attn::Error(kIo) on write failure.
void write_bar_chart(const std::string& path, const std::string& title, const std::string& y_label,
                     const std::vector<Bar>& bars);

}  // namespace attn
