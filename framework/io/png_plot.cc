#include "framework/io/png_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "framework/core/error.h"
#include "framework/io/bitmap_font.h"
#include "framework/io/file_util.h"
#include "framework/io/png_canvas.h"

namespace attn {

namespace {

constexpr int kLeft = 110, kRight = 30, kTop = 50, kBottom = 80;  // margins around the plot area

// A value range mapped onto pixels; log axes map log10(value).
struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double frac(double v) const {
    const double t = log ? std::log10(v) : v;
    return (t - lo) / (hi - lo);
  }
};

bool plottable(double x, double y, bool log_y) {
  return std::isfinite(x) && std::isfinite(y) && (!log_y || y > 0);
}

// Pads [lo, hi] by 5% (or a unit step when it is a single value) so curves do not touch the frame.
Axis padded(double lo, double hi, bool log, bool any, double pad_frac) {
  if (!any) return {0, 1, log};
  if (log) lo = std::log10(lo), hi = std::log10(hi);
  if (hi - lo <= 0) {
    const double pad = log ? 0.5 : std::max(std::fabs(lo) * 0.1, 1e-9);
    return {lo - pad, hi + pad, log};
  }
  const double pad = (hi - lo) * pad_frac;
  return {lo - pad, hi + pad, log};
}

double nice_step(double raw) {
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

std::vector<double> linear_ticks(double lo, double hi, double* step_out) {
  const double step = nice_step((hi - lo) / 6);
  *step_out = step;
  std::vector<double> ticks;
  // Counted, not `k += 1` on a double: near 1e17 * step that addition stops changing k.
  const double first = std::ceil(lo / step);
  for (int i = 0; i < 50; ++i) {
    const double k = first + i;
    if (!(k * step <= hi + step * 1e-9)) break;
    ticks.push_back(std::fabs(k) < 0.5 ? 0.0 : k * step);
  }
  return ticks;
}

// 0.00012 -> "1.2e-4": the short form that fits under a tick.
std::string scientific(double v) {
  if (v == 0) return "0";
  int e = static_cast<int>(std::floor(std::log10(std::fabs(v))));
  double m = std::round(v / std::pow(10.0, e) * 100) / 100;
  if (std::fabs(m) >= 10) m /= 10, ++e;
  std::string s = fmt::format("{:.2f}", m);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return fmt::format("{}e{}", s, e);
}

std::string tick_label(double v, double step) {
  const double mag = std::fabs(v);
  if (mag >= 1e6 || (step < 1e-4 && mag > 0) || (mag > 0 && mag < 1e-4)) return scientific(v);
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return fmt::format("{:.{}f}", v, decimals);
}

struct Tick {
  double value;
  std::string label;
};

std::vector<Tick> axis_ticks(const Axis& a) {
  std::vector<Tick> out;
  double step = 0;
  if (!a.log) {
    for (double v : linear_ticks(a.lo, a.hi, &step)) out.push_back({v, tick_label(v, step)});
    return out;
  }
  // Log axes: decades when the range spans several, 1-2-5 within fewer, and plain linear ticks
  // when even those leave fewer than three (a loss between 2.1 and 2.4).
  const bool wide = a.hi - a.lo >= 3;
  for (int k = static_cast<int>(std::floor(a.lo)); k <= static_cast<int>(std::ceil(a.hi)); ++k)
    for (double m : {1.0, 2.0, 5.0}) {
      if (wide && m != 1.0) continue;
      const double v = m * std::pow(10.0, k), t = std::log10(v);
      if (t < a.lo || t > a.hi) continue;
      out.push_back({v, k >= -2 && k < 5 ? tick_label(v, std::pow(10.0, k)) : scientific(v)});
    }
  if (out.size() >= 3) return out;
  out.clear();
  for (double v : linear_ticks(std::pow(10.0, a.lo), std::pow(10.0, a.hi), &step))
    if (v > 0) out.push_back({v, tick_label(v, step)});
  return out;
}

// Horizontal grid lines, tick marks and labels of the y axis; `py` maps a value to a row.
template <typename F>
void draw_y_ticks(Canvas& c, const Rect& area, const Axis& ya, const F& py) {
  const int glyph_h = kGlyphHeight * kTextScale;
  for (const Tick& t : axis_ticks(ya)) {
    const int y = py(t.value);
    c.line(area.x0, y, area.x1, y, kGrid);
    c.line(area.x0 - 5, y, area.x0, y, kBlack);
    c.text(area.x0 - 8 - text_width(t.label, kTextScale), y - glyph_h / 2, t.label, kBlack);
  }
}

void draw_titles(Canvas& c, const Rect& area, const std::string& title, const std::string& x_label,
                 const std::string& y_label) {
  c.text((kPlotWidth - text_width(title, kTextScale)) / 2, 16, title, kBlack);
  c.text((area.x0 + area.x1 - text_width(x_label, kTextScale)) / 2, kPlotHeight - 30, x_label,
         kBlack);
  c.text(14, (area.y0 + area.y1 + text_width(y_label, kTextScale)) / 2, y_label, kBlack, true);
}

// `s` cut to at most `width` pixels, ".." marking the cut.
std::string fit_text(const std::string& s, int width) {
  if (text_width(s, kTextScale) <= width) return s;
  std::string out = s;
  while (!out.empty() && text_width(out + "..", kTextScale) > width) out.pop_back();
  return out.empty() ? "" : out + "..";
}

}  // namespace

Rgb series_color(size_t i) {
  // Eight hues that stay apart for most colour-vision deficiencies and on grey grid lines.
  static constexpr Rgb kPalette[] = {{31, 119, 180},  {255, 127, 14},  {44, 160, 44},
                                     {214, 39, 40},   {148, 103, 189}, {140, 86, 75},
                                     {227, 119, 194}, {23, 190, 207}};
  return kPalette[i % 8];
}

void write_line_plot(const std::string& path, const std::string& title, const std::string& x_label,
                     const std::string& y_label, const std::vector<Series>& series, bool log_y) {
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  bool any = false;
  for (const Series& s : series) {
    ATTN_CHECK(s.xs.size() == s.ys.size(), "series '{}' has {} x values but {} y values", s.name,
               s.xs.size(), s.ys.size());
    for (size_t i = 0; i < s.xs.size(); ++i) {
      if (!plottable(s.xs[i], s.ys[i], log_y)) continue;
      any = true;
      xlo = std::min(xlo, s.xs[i]), xhi = std::max(xhi, s.xs[i]);
      ylo = std::min(ylo, s.ys[i]), yhi = std::max(yhi, s.ys[i]);
    }
  }
  const Axis xa = padded(xlo, xhi, false, any, 0.0);
  const Axis ya = padded(ylo, yhi, log_y, any, 0.05);

  Canvas c(kPlotWidth, kPlotHeight);
  const Rect area{kLeft, kTop, kPlotWidth - kRight, kPlotHeight - kBottom};
  const auto px = [&](double x) {
    return area.x0 +
           static_cast<int>(std::lround(std::clamp(xa.frac(x), -1.0, 2.0) * (area.x1 - area.x0)));
  };
  const auto py = [&](double y) {
    return area.y1 -
           static_cast<int>(std::lround(std::clamp(ya.frac(y), -1.0, 2.0) * (area.y1 - area.y0)));
  };
  const int glyph_h = kGlyphHeight * kTextScale;

  // Grid and tick labels first so the curves draw over them.
  draw_y_ticks(c, area, ya, py);
  const std::vector<Tick> xt = axis_ticks(xa);
  int widest = 0;
  for (const Tick& t : xt) widest = std::max(widest, text_width(t.label, kTextScale));
  const int spacing = xt.size() > 1 ? std::max(1, std::abs(px(xt[1].value) - px(xt[0].value))) : 1;
  const size_t stride = static_cast<size_t>((widest + 12) / spacing + 1);  // labels must not touch
  for (size_t i = 0; i < xt.size(); ++i) {
    const int x = px(xt[i].value);
    c.line(x, area.y0, x, area.y1, kGrid);
    c.line(x, area.y1, x, area.y1 + 5, kBlack);
    if (i % stride == 0)
      c.text(x - text_width(xt[i].label, kTextScale) / 2, area.y1 + 9, xt[i].label, kBlack);
  }
  c.frame(area, kBlack);
  if (!any)
    c.text((area.x0 + area.x1 - text_width("no data", kTextScale)) / 2,
           (area.y0 + area.y1 - glyph_h) / 2, "no data", kFrame);

  for (size_t si = 0; si < series.size(); ++si) {
    const Series& s = series[si];
    const Rgb col = series_color(si);
    size_t points = 0;
    for (size_t i = 0; i < s.xs.size(); ++i) points += plottable(s.xs[i], s.ys[i], log_y);
    bool have_prev = false;
    int x0 = 0, y0 = 0;
    for (size_t i = 0; i < s.xs.size(); ++i) {
      if (!plottable(s.xs[i], s.ys[i], log_y)) {
        have_prev = false;  // a gap, not a line across the missing value
        continue;
      }
      const int x1 = px(s.xs[i]), y1 = py(s.ys[i]);
      if (have_prev) c.line(x0, y0, x1, y1, col, &area, true);
      // Sparse series (validation every N steps, single points) also get visible markers.
      if (points <= 60)
        for (int d = -2; d <= 2; ++d) c.line(x1 - 2, y1 + d, x1 + 2, y1 + d, col, &area);
      x0 = x1, y0 = y1, have_prev = true;
    }
  }

  // Legend in the top-right corner of the plot area.
  int legend_w = 0;
  for (const Series& s : series) legend_w = std::max(legend_w, text_width(s.name, kTextScale));
  if (legend_w > 0) {
    const int row_h = glyph_h + 8;
    const Rect box{area.x1 - legend_w - 50, area.y0 + 8, area.x1 - 8,
                   area.y0 + 8 + static_cast<int>(series.size()) * row_h + 8};
    c.fill(box, kWhite);
    c.frame(box, kFrame);
    for (size_t si = 0; si < series.size(); ++si) {
      const int y = box.y0 + 8 + static_cast<int>(si) * row_h;
      for (int d = 0; d < 3; ++d)
        c.line(box.x0 + 8, y + glyph_h / 2 - 1 + d, box.x0 + 30, y + glyph_h / 2 - 1 + d,
               series_color(si));
      c.text(box.x0 + 38, y, series[si].name, kBlack);
    }
  }

  draw_titles(c, area, title, x_label, y_label);
  write_file_atomic(path, encode_png(c));
}

void write_bar_chart(const std::string& path, const std::string& title, const std::string& y_label,
                     const std::vector<Bar>& bars) {
  const auto has_error = [](const Bar& b) { return std::isfinite(b.error) && b.error > 0; };
  double lo = INFINITY, hi = -INFINITY;
  bool any = false;
  for (const Bar& b : bars) {
    if (!std::isfinite(b.value)) continue;
    any = true;
    const double e = has_error(b) ? b.error : 0.0;
    lo = std::min(lo, b.value - e), hi = std::max(hi, b.value + e);
  }
  // Bars start at zero unless that would squash their differences into a sliver at the top
  // (losses of 2.31 and 2.35): then the axis zooms onto the data.
  const bool from_zero = any && !(lo > 0 && lo > 0.5 * hi) && !(hi < 0 && hi < 0.5 * lo);
  if (from_zero) lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
  Axis ya = padded(lo, hi, false, any, 0.05);
  if (from_zero && lo == 0) ya.lo = 0;  // no padding below a zero baseline
  if (from_zero && hi == 0) ya.hi = 0;
  if (ya.hi <= ya.lo) ya.hi = ya.lo + 1;  // every bar 0: show a unit range
  const double baseline = from_zero ? 0.0 : ya.lo;

  Canvas c(kPlotWidth, kPlotHeight);
  const Rect area{kLeft, kTop, kPlotWidth - kRight, kPlotHeight - kBottom};
  const auto py = [&](double y) {
    return area.y1 -
           static_cast<int>(std::lround(std::clamp(ya.frac(y), -1.0, 2.0) * (area.y1 - area.y0)));
  };
  const int glyph_h = kGlyphHeight * kTextScale;
  draw_y_ticks(c, area, ya, py);
  if (!any)
    c.text((area.x0 + area.x1 - text_width("no data", kTextScale)) / 2,
           (area.y0 + area.y1 - glyph_h) / 2, "no data", kFrame);

  const int n = std::max<int>(1, static_cast<int>(bars.size()));
  const double slot = static_cast<double>(area.x1 - area.x0) / n;
  const int half = std::clamp(static_cast<int>(slot * 0.3), 1, 60);
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const int cx = area.x0 + static_cast<int>(std::lround(slot * (static_cast<double>(i) + 0.5)));
    const std::string name = fit_text(b.name, static_cast<int>(slot) - 4);
    c.text(cx - text_width(name, kTextScale) / 2, area.y1 + 9, name, kBlack);
    if (!std::isfinite(b.value)) continue;
    const int y0 = py(baseline), y1 = py(b.value);
    c.fill({cx - half, std::min(y0, y1), cx + half, std::max(y0, y1)}, series_color(i));
    int top = std::min(y0, y1);
    if (has_error(b)) {
      const int ylo = py(b.value - b.error), yhi = py(b.value + b.error), cap = half / 2;
      for (int d = 0; d < 2; ++d) {
        c.line(cx + d, ylo, cx + d, yhi, kBlack, &area);
        c.line(cx - cap, ylo + d, cx + cap, ylo + d, kBlack, &area);
        c.line(cx - cap, yhi + d, cx + cap, yhi + d, kBlack, &area);
      }
      top = std::min(top, yhi);
    }
    const std::string value = fit_text(fmt::format("{:.4g}", b.value), static_cast<int>(slot) - 4);
    c.text(cx - text_width(value, kTextScale) / 2, std::max(area.y0 + 2, top - glyph_h - 6), value,
           kBlack);
  }
  c.frame(area, kBlack);
  draw_titles(c, area, title, "", y_label);
  write_file_atomic(path, encode_png(c));
}

}  // namespace attn
