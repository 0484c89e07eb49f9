#include "recipes/run/run_log.h"

#include <fmt/format.h>

#include "framework/core/error.h"

namespace attn {

RunLog::RunLog(const std::string& run_root, bool tensorboard)
    : root_(run_root), metrics_(run_root + "/metrics.jsonl") {
  if (tensorboard) events_ = std::make_unique<EventWriter>(run_root, "train");
}

void RunLog::row(const nlohmann::json& row, int64_t step) {
  metrics_.append(row);
  if (!events_) return;
  for (const auto& [key, value] : row.items())
    if (key != "step" && value.is_number()) events_->scalar(key, step, value.get<double>());
  events_->flush();
}

void RunLog::render(Progress& progress) const {
  try {
    render_plots(root_);
  } catch (const Error& e) {
    progress.message(fmt::format("warning: plots not written: {}", e.what()));
  }
}

}  // namespace attn
