// A small RGB raster for the PNG plots: pixels, lines, frames, bitmap-font text, and encoding to
// PNG bytes in memory (so files can be replaced atomically). Shared by png_plot and png_heatmap.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "framework/io/bitmap_font.h"
#include "framework/io/png_plot.h"

namespace attn {

inline constexpr Rgb kWhite{255, 255, 255}, kBlack{0, 0, 0}, kGrid{228, 228, 228},
    kFrame{160, 160, 160};
inline constexpr int kTextScale = 2;

struct Rect {
  int x0, y0, x1, y1;  // inclusive
  bool contains(int x, int y) const { return x >= x0 && x <= x1 && y >= y0 && y <= y1; }
};

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), rgb_(static_cast<size_t>(w) * h * 3, 255) {}
  int width() const { return w_; }
  int height() const { return h_; }
  const uint8_t* row(int y) const { return rgb_.data() + static_cast<size_t>(y) * w_ * 3; }

  void set(int x, int y, Rgb c, const Rect* clip = nullptr) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_ || (clip && !clip->contains(x, y))) return;
    uint8_t* p = rgb_.data() + (static_cast<size_t>(y) * w_ + x) * 3;
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  }
  void fill(Rect r, Rgb c) {
    for (int y = r.y0; y <= r.y1; ++y)
      for (int x = r.x0; x <= r.x1; ++x) set(x, y, c);
  }
  void frame(Rect r, Rgb c) {
    line(r.x0, r.y0, r.x1, r.y0, c), line(r.x0, r.y1, r.x1, r.y1, c);
    line(r.x0, r.y0, r.x0, r.y1, c), line(r.x1, r.y0, r.x1, r.y1, c);
  }
  // Bresenham; `thick` adds the pixel below and right so 2-pixel lines stay gap-free.
  void line(int x0, int y0, int x1, int y1, Rgb c, const Rect* clip = nullptr, bool thick = false) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
      set(x0, y0, c, clip);
      if (thick) set(x0 + 1, y0, c, clip), set(x0, y0 + 1, c, clip);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  // Top-left anchored text; `vertical` rotates it a quarter turn counter-clockwise (y labels).
  void text(int x, int y, std::string_view s, Rgb c, bool vertical = false) {
    for (size_t i = 0; i < s.size(); ++i) {
      const uint8_t* rows = glyph_rows(s[i], i > 0 ? s[i - 1] : ' ');
      const int advance = static_cast<int>(i) * kGlyphAdvance;
      for (int gy = 0; gy < kGlyphHeight; ++gy)
        for (int gx = 0; gx < kGlyphWidth; ++gx) {
          if (!(rows[gy] & (0x10 >> gx))) continue;
          for (int a = 0; a < kTextScale; ++a)
            for (int b = 0; b < kTextScale; ++b) {
              const int u = (advance + gx) * kTextScale + a, v = gy * kTextScale + b;
              if (vertical)
                set(x + v, y - u, c);
              else
                set(x + u, y + v, c);
            }
        }
    }
  }

 private:
  int w_, h_;
  std::vector<uint8_t> rgb_;
};

// The canvas as PNG bytes (8-bit RGB). Throws attn::Error(kInternal) on a libpng failure.
std::string encode_png(const Canvas& c);

}  // namespace attn
