#include "recipes/run/metrics_log.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "framework/core/error.h"
#include "framework/io/file_util.h"
#include "framework/io/png_plot.h"

namespace attn {

namespace fs = std::filesystem;

namespace {

// One line of the file: its text (without '\n'), 1-based number, byte offset of its start.
struct Line {
  std::string_view text;
  int64_t number;
  size_t offset;
  bool terminated;  // followed by '\n'
};

std::vector<Line> split_lines(const std::string& data) {
  std::vector<Line> lines;
  size_t pos = 0;
  int64_t number = 1;
  while (pos < data.size()) {
    const size_t nl = data.find('\n', pos);
    const bool term = nl != std::string::npos;
    const size_t end = term ? nl : data.size();
    lines.push_back({std::string_view(data).substr(pos, end - pos), number++, pos, term});
    pos = term ? nl + 1 : data.size();
  }
  return lines;
}

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r") == std::string_view::npos;
}

// Parses every non-blank line; the unterminated last line is dropped when it does not parse
// (a crash mid-write), every other bad line is an error. `keep` receives each kept line.
template <typename Keep>
void parse_lines(const std::string& path, const std::string& data, Keep&& keep) {
  for (const Line& line : split_lines(data)) {
    if (blank(line.text)) continue;
    nlohmann::json row = nlohmann::json::parse(line.text, nullptr, /*allow_exceptions=*/false);
    if (row.is_discarded()) {
      if (!line.terminated) return;
      ATTN_FAIL(kInput, "{}:{} (byte offset {}): not valid JSON", path, line.number, line.offset);
    }
    if (!row.is_object())
      ATTN_FAIL(kInput, "{}:{} (byte offset {}): expected a JSON object, got {}", path, line.number,
                line.offset, row.type_name());
    keep(line, std::move(row));
  }
}

}  // namespace

MetricsLog::MetricsLog(const std::string& path) : path_(path) {
  std::error_code ec;
  if (fs::exists(path, ec)) {
    const std::string data = read_file(path);
    const size_t last_nl = data.rfind('\n');
    const size_t keep = last_nl == std::string::npos ? 0 : last_nl + 1;
    if (keep != data.size() && ::truncate(path.c_str(), static_cast<off_t>(keep)) != 0)
      ATTN_FAIL(kIo, "{}: cannot cut torn last line at byte {}: {}", path, keep,
                std::strerror(errno));
  }
  file_ = std::fopen(path.c_str(), "ab");
  if (!file_) ATTN_FAIL(kIo, "{}: cannot open for appending: {}", path, std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::append(const nlohmann::json& row) {
  ATTN_CHECK(row.is_object(), "a metrics row must be a JSON object, got {}", row.type_name());
  // Replace invalid UTF-8 instead of throwing mid-run: a metric name is never worth a crash.
  std::string line = row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    ATTN_FAIL(kIo, "{}: append failed: {}", path_, std::strerror(errno));
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  const std::string data = read_file(path);
  std::vector<nlohmann::json> rows;
  parse_lines(path, data, [&](const Line&, nlohmann::json row) { rows.push_back(std::move(row)); });
  return rows;
}

void truncate_metrics_after(const std::string& path, int64_t step) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return;
  const std::string data = read_file(path);
  std::string kept;
  kept.reserve(data.size());
  parse_lines(path, data, [&](const Line& line, const nlohmann::json& row) {
    const auto it = row.find("step");
    if (it != row.end() && it->is_number()) {
      const bool after = it->is_number_integer() ? it->get<int64_t>() > step
                                                 : it->get<double>() > static_cast<double>(step);
      if (after) return;
    }
    kept.append(line.text);
    kept.push_back('\n');
  });
  write_file_atomic(path, kept);
}

namespace {

struct PlotSpec {
  const char* file;
  const char* title;
  const char* y_label;
  std::vector<const char*> keys;  // one series each
  bool log_y;
};

}  // namespace

std::vector<std::string> render_plots(const std::string& run_dir) {
  const std::vector<nlohmann::json> rows =
      read_metrics((fs::path(run_dir) / "metrics.jsonl").string());
  // Gradient norms span orders of magnitude (spikes next to a converged tail): log scale.
  const std::vector<PlotSpec> specs = {
      {"loss.png", "loss", "loss", {"loss", "val_loss"}, false},
      {"lr.png", "learning rate", "lr", {"lr"}, false},
      {"grad_norm.png", "gradient norm", "grad norm", {"grad_norm"}, true},
      {"throughput.png", "throughput", "tokens/s", {"tokens_per_s"}, false},
      {"attention.png",
       "attention diagnostics (training batches)",
       "value",
       {"attn/first_token_mass", "attn/sink_head_ratio", "attn/entropy_norm"},
       false},
      {"max_activation.png",
       "max |activation| of the residual stream",
       "max |x|",
       {"attn/max_activation", "val/attn/max_activation"},
       true},
  };
  const fs::path plots = fs::path(run_dir) / "plots";
  std::vector<std::string> written;
  for (const PlotSpec& spec : specs) {
    std::vector<Series> series;
    bool any = false;
    for (const char* key : spec.keys) {
      Series s{key, {}, {}};
      for (const nlohmann::json& row : rows) {
        const auto step = row.find("step");
        const auto value = row.find(key);
        if (step == row.end() || value == row.end() || !step->is_number()) continue;
        // null is how a NaN/inf was logged: keep it as a gap in the curve.
        if (!value->is_number() && !value->is_null()) continue;
        s.xs.push_back(step->get<double>());
        s.ys.push_back(value->is_number() ? value->get<double>() : NAN);
        any = true;
      }
      if (!s.xs.empty()) series.push_back(std::move(s));  // no empty legend entries
    }
    if (!any) continue;
    std::error_code ec;
    fs::create_directories(plots, ec);
    if (ec) ATTN_FAIL(kIo, "{}: cannot create plots directory: {}", plots.string(), ec.message());
    const std::string path = (plots / spec.file).string();
    write_line_plot(path, spec.title, "step", spec.y_label, series, spec.log_y);
    written.push_back(path);
  }
  return written;
}

}  // namespace attn
