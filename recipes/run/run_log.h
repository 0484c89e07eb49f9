// What a training run writes as it goes, for every trainer: metrics.jsonl rows, the same numbers
// as TensorBoard scalars (log.tensorboard), and the plots drawn from them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "framework/io/tensorboard.h"
#include "recipes/run/metrics_log.h"
#include "recipes/run/progress.h"

namespace attn {

class RunLog {
 public:
  RunLog(const std::string& run_root, bool tensorboard);

  // One metrics row (a JSON object); its numbers other than "step" also go to TensorBoard.
  void row(const nlohmann::json& row, int64_t step);
  // Redraws plots/. Plots are a convenience: a failure is a warning through `progress`, never
  // the end of the run.
  void render(Progress& progress) const;

 private:
  std::string root_;
  MetricsLog metrics_;
  std::unique_ptr<EventWriter> events_;
};

}  // namespace attn
