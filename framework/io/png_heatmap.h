// Heatmaps as PNG files: a grid of matrices (e.g. the attention maps of every head of a layer)
// with a shared colour scale, optional row/column labels (tokens) and a colour bar.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attn {

struct Heatmap {
  std::string title;
  int64_t rows = 0, cols = 0;
  std::vector<double> values;  // row-major rows x cols; NaN/inf draw grey
};

// Writes all maps side by side (a grid of up to 4 columns) atomically. The colour scale spans
// [min(0, smallest), largest] over all maps: white at 0, blue for positive values, red for
// negative ones (affine and differential weights can be negative). Labels (one per row/column,
// all maps the same size) are drawn when they fit. Throws attn::Error: kShape when a map's
// values do not match rows x cols or labels do not match, kIo on write failure.
void write_heatmaps(const std::string& path, const std::string& title,
                    const std::vector<Heatmap>& maps, const std::vector<std::string>& labels = {});

}  // namespace attn
