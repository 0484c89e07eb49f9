// attnlab plot RUN_DIR: re-renders the PNG plots of a run directory from its metrics.jsonl (also
// while the run is still going, or after a crash: the reader tolerates a torn last line).
#include <cstdio>
#include <filesystem>

#include "framework/core/error.h"
#include "recipes/run/metrics_log.h"
#include "tools/command.h"

namespace attn::cli {

Run add_plot_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("plot", "Render RUN_DIR/plots/*.png from RUN_DIR/metrics.jsonl");
  auto run_dir = std::make_shared<std::string>();
  cmd->add_option("run_dir", *run_dir, "Run directory (holds metrics.jsonl)")->required();
  return [run_dir] {
    const std::string metrics = (std::filesystem::path(*run_dir) / "metrics.jsonl").string();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(metrics, ec))
      ATTN_FAIL(kInput, "{}: no metrics.jsonl here (is this a run directory?)", *run_dir);
    const std::vector<std::string> paths = render_plots(*run_dir);
    if (paths.empty()) std::printf("%s: no plottable metrics yet\n", metrics.c_str());
    for (const std::string& p : paths) std::printf("%s\n", p.c_str());
    return 0;
  };
}

}  // namespace attn::cli
