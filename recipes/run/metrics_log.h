// metrics.jsonl of a run directory: one JSON object per line, appended and flushed per row, so a
// crash loses at most the row being written and readers tolerate that torn last line.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace attn {

class MetricsLog {
 public:
  // Opens `path` for appending (creating it). A torn last line left by a crash is cut off first,
  // otherwise the next row would be glued onto it and corrupt the middle of the file.
  explicit MetricsLog(const std::string& path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // `row` must be a JSON object. NaN/inf values are written as null (JSON has no such numbers).
  void append(const nlohmann::json& row);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// Every row of a metrics file. A truncated last line (no trailing newline, not valid JSON) is
// dropped; any other bad line is an attn::Error naming the path, line number and byte offset.
std::vector<nlohmann::json> read_metrics(const std::string& path);

// Drops rows whose "step" is greater than `step` (rows without a step are kept), so a run resumed
// from a checkpoint at `step` does not log the replayed steps twice. Rewrites the file atomically;
// a missing file is left missing.
void truncate_metrics_after(const std::string& path, int64_t step);

// Renders <run_dir>/plots/{loss,lr,grad_norm,throughput}.png from <run_dir>/metrics.jsonl against
// "step" (rows may lack keys: val_loss appears only every few steps). A plot whose metrics never
// appear is not written. Returns the paths written.
std::vector<std::string> render_plots(const std::string& run_dir);

}  // namespace attn
