#include "recipes/run/metrics_log.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

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

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r") == std::string_view::npos;
}

// Parses every non-blank line of the file at `path`, one line in memory at a time (a long run's
// metrics are read at every evaluation, so holding the file would grow the trainer with it); the
// unterminated last line is dropped when it does not parse (a crash mid-write), every other bad
// line is an error. `keep` receives each kept line.
template <typename Keep>
void parse_lines(const std::string& path, Keep&& keep) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::kInput, path, fmt::format("cannot open: {}", std::strerror(errno)));
  std::string text;
  size_t offset = 0;
  for (int64_t number = 1; std::getline(in, text); ++number) {
    const Line line{text, number, offset, !in.eof()};
    offset += text.size() + 1;
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
  if (in.bad())
    throw Error(ErrorKind::kIo, path, fmt::format("read failed: {}", std::strerror(errno)));
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
  std::vector<nlohmann::json> rows;
  parse_lines(path, [&](const Line&, nlohmann::json row) { rows.push_back(std::move(row)); });
  return rows;
}

void truncate_metrics_after(const std::string& path, int64_t step) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return;
  std::string kept;
  parse_lines(path, [&](const Line& line, const nlohmann::json& row) {
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
  // One pass over the file, keeping only the plotted numbers (not the rows).
  std::vector<std::vector<Series>> series(specs.size());
  for (size_t i = 0; i < specs.size(); ++i)
    for (const char* key : specs[i].keys) series[i].push_back(Series{key, {}, {}});
  parse_lines((fs::path(run_dir) / "metrics.jsonl").string(),
              [&](const Line&, const nlohmann::json& row) {
                const auto step = row.find("step");
                if (step == row.end() || !step->is_number()) return;
                for (std::vector<Series>& plot : series)
                  for (Series& s : plot) {
                    const auto value = row.find(s.name);
                    // null is how a NaN/inf was logged: keep it as a gap in the curve.
                    if (value == row.end() || (!value->is_number() && !value->is_null())) continue;
                    s.xs.push_back(step->get<double>());
                    s.ys.push_back(value->is_number() ? value->get<double>() : NAN);
                  }
              });
  const fs::path plots = fs::path(run_dir) / "plots";
  std::vector<std::string> written;
  for (size_t i = 0; i < specs.size(); ++i) {
    std::vector<Series> drawn;
    for (Series& s : series[i])
      if (!s.xs.empty()) drawn.push_back(std::move(s));  // no empty legend entries
    if (drawn.empty()) continue;
    std::error_code ec;
    fs::create_directories(plots, ec);
    if (ec) ATTN_FAIL(kIo, "{}: cannot create plots directory: {}", plots.string(), ec.message());
    const std::string path = (plots / specs[i].file).string();
    write_line_plot(path, specs[i].title, "step", specs[i].y_label, drawn, specs[i].log_y);
    written.push_back(path);
  }
  return written;
}

}  // namespace attn
