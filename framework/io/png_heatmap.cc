#include "framework/io/png_heatmap.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"
#include "framework/io/file_util.h"
#include "framework/io/png_canvas.h"

namespace attn {

namespace {

constexpr int kCell = 480;  // pixels per map side at most
constexpr int kPad = 40, kTitle = 44, kBar = 60;
const Rgb kMissing{200, 200, 200};

// White at 0, towards dark blue for positive and dark red for negative values, on one scale
// (|v| / max(|lo|, hi)) so a faint negative weight stays faint.
Rgb color(double v, double lo, double hi) {
  if (!std::isfinite(v)) return kMissing;
  auto mix = [](Rgb to, double t) {
    t = std::clamp(t, 0.0, 1.0);
    auto ch = [t](uint8_t c) { return static_cast<uint8_t>(std::lround(255 + (c - 255) * t)); };
    return Rgb{ch(to.r), ch(to.g), ch(to.b)};
  };
  const double scale = std::max(-lo, hi);
  const double t = scale > 0 ? std::abs(v) / scale : 0.0;
  return v >= 0 ? mix(Rgb{8, 48, 107}, t) : mix(Rgb{165, 15, 21}, t);
}

std::string number(double v) {
  return fmt::format("{:.3g}", v);
}

}  // namespace

void write_heatmaps(const std::string& path, const std::string& title,
                    const std::vector<Heatmap>& maps, const std::vector<std::string>& labels) {
  ATTN_CHECK(!maps.empty(), "write_heatmaps: no maps for {}", path);
  double lo = 0, hi = 0;
  for (const Heatmap& m : maps) {
    if (static_cast<int64_t>(m.values.size()) != m.rows * m.cols || m.rows < 1 || m.cols < 1)
      ATTN_FAIL(kShape, "heatmap '{}': {} values for {} x {}", m.title, m.values.size(), m.rows,
                m.cols);
    if (!labels.empty() && (m.rows != static_cast<int64_t>(labels.size()) || m.cols != m.rows))
      ATTN_FAIL(kShape, "heatmap '{}': {} labels for {} x {}", m.title, labels.size(), m.rows,
                m.cols);
    for (double v : m.values)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  const int64_t n_max = std::max_element(maps.begin(), maps.end(), [](auto& a, auto& b) {
                          return std::max(a.rows, a.cols) < std::max(b.rows, b.cols);
                        })->rows;
  // Whole pixels per cell; labels need at least one glyph height per row.
  const int glyph = kGlyphHeight * 1;
  const int cell = std::max(1, kCell / static_cast<int>(std::max<int64_t>(n_max, 1)));
  const bool show_labels = !labels.empty() && cell >= glyph + 1;
  const int label_w = show_labels ? 8 * kGlyphAdvance + 6 : 0;
  const int side = cell * static_cast<int>(n_max);
  const int cols = std::min<int>(4, static_cast<int>(maps.size()));
  const int rows = (static_cast<int>(maps.size()) + cols - 1) / cols;
  const int tile_w = label_w + side + kPad, tile_h = kTitle + label_w + side + kPad;
  Canvas c(std::max(kPad + cols * tile_w + kBar, 400), kTitle + rows * tile_h + kPad);
  c.text(kPad, 12, title, kBlack);

  // Labels use the font at scale 1: draw them glyph by glyph through a 1x canvas helper.
  auto small_text = [&](int x, int y, const std::string& s, bool vertical) {
    for (size_t i = 0; i < s.size() && i < 8; ++i) {
      const uint8_t* g = glyph_rows(s[i], i > 0 ? s[i - 1] : ' ');
      for (int gy = 0; gy < kGlyphHeight; ++gy)
        for (int gx = 0; gx < kGlyphWidth; ++gx)
          if (g[gy] & (0x10 >> gx)) {
            const int u = static_cast<int>(i) * kGlyphAdvance + gx;
            if (vertical)
              c.set(x + gy, y - u, kBlack);
            else
              c.set(x + u, y + gy, kBlack);
          }
    }
  };

  for (size_t k = 0; k < maps.size(); ++k) {
    const Heatmap& m = maps[k];
    const int x0 = kPad + static_cast<int>(k % cols) * tile_w + label_w;
    const int y0 = kTitle + static_cast<int>(k / cols) * tile_h + kTitle / 2 + label_w;
    c.text(x0, y0 - label_w - 22, m.title, kBlack);
    for (int64_t i = 0; i < m.rows; ++i)
      for (int64_t j = 0; j < m.cols; ++j) {
        const int px = x0 + static_cast<int>(j) * cell, py = y0 + static_cast<int>(i) * cell;
        c.fill({px, py, px + cell - 1, py + cell - 1}, color(m.values[i * m.cols + j], lo, hi));
      }
    c.frame({x0 - 1, y0 - 1, x0 + static_cast<int>(m.cols) * cell,
             y0 + static_cast<int>(m.rows) * cell},
            kFrame);
    if (show_labels)
      for (int64_t i = 0; i < m.rows; ++i) {
        const int off = static_cast<int>(i) * cell + (cell - glyph) / 2;
        small_text(x0 - label_w, y0 + off, labels[i], false);  // queries, left
        small_text(x0 + off, y0 - 4, labels[i], true);         // keys, on top
      }
  }
  // Colour bar: lo at the bottom, hi at the top.
  const int bx = c.width() - kBar + 10, by0 = kTitle + 20, by1 = c.height() - kPad;
  for (int y = by0; y <= by1; ++y) {
    const double t = static_cast<double>(by1 - y) / std::max(1, by1 - by0);
    c.fill({bx, y, bx + 14, y}, color(lo + t * (hi - lo), lo, hi));
  }
  c.frame({bx - 1, by0 - 1, bx + 15, by1 + 1}, kFrame);
  small_text(bx - 4, by0 - 12, number(hi), false);
  small_text(bx - 4, by1 + 4, number(lo), false);
  write_file_atomic(path, encode_png(c));
}

}  // namespace attn
