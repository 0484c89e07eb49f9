#include "recipes/ablate/results.h"

#include <cmath>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "framework/core/error.h"
#include "framework/io/file_util.h"
#include "framework/io/png_plot.h"
#include "recipes/run/metrics_log.h"

namespace attn {

namespace fs = std::filesystem;

namespace {

std::string number(double v) {
  if (std::isnan(v)) return "nan";
  if (v == 0) return "0";
  const double mag = std::fabs(v);
  if (std::isfinite(v) && (mag < 1e-3 || mag >= 1e5)) return fmt::format("{:.3e}", v);
  return fmt::format("{:.4f}", v);
}

// CSV numbers at full precision (the shortest text that reads back to the same double).
std::string csv_number(double v) {
  return std::isnan(v) ? "nan" : fmt::format("{}", v);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string join_sets(const google::protobuf::RepeatedPtrField<std::string>& sets) {
  if (sets.empty()) return "(no overrides)";
  std::vector<std::string> items;
  for (const std::string& s : sets) items.push_back(fmt::format("`--set {}`", s));
  return fmt::format("{}", fmt::join(items, " "));
}

std::string arm_seeds_cell(const ArmResult& a) {
  return a.finished == a.planned ? fmt::format("{}", a.finished)
                                 : fmt::format("{} of {}", a.finished, a.planned);
}

std::string results_md(const AblationPlan& plan, const AblationResults& results,
                       const ResultsInfo& info) {
  const Ablation& a = plan.ablation;
  std::string md = fmt::format("# Ablation `{}`\n\n", a.name());
  md += results_table(plan, results);
  md +=
      "\nEach cell: mean ± sample standard deviation (n - 1) over the arm's finished seeds; "
      "\"-\": no finished run logged the key; (n=k): only k runs logged it.\n\n";
  md += "| metric | key | reduce |\n|---|---|---|\n";
  for (const AblationMetric& m : a.metric())
    md += fmt::format("| {} | `{}` | {} |\n", md_cell(m.label()), md_cell(m.key()),
                      AblationMetric::Reduce_Name(m.reduce()));
  if (std::any_of(a.metric().begin(), a.metric().end(),
                  [](const AblationMetric& m) { return m.reduce() == AblationMetric::SPIKES; }))
    md += fmt::format(
        "\nSPIKES counts logged values above {} x the mean of the 10 logged before them.\n",
        a.spike_ratio());

  md += fmt::format("\n## Arms\n\nBase recipe `{}`", plan.base);
  md += a.set_size() > 0 ? fmt::format(" with {}", join_sets(a.set())) : "";
  md += fmt::format("; seeds {} (train.seed).\n\n", fmt::join(a.seeds(), ", "));
  for (const Ablation::Arm& arm : a.arm())
    md += fmt::format("- `{}`: {}\n", arm.name(), join_sets(arm.set()));
  md += fmt::format("\n## Runs\n\n{} of {} runs finished. Command:\n\n```\n{}\n```\n\n",
                    results.runs.size(), plan.runs.size(), info.command);
  md += fmt::format("Wall time of this invocation: {:.1f} s.\n", info.wall_s);
  return md;
}

std::string csv_line(const std::vector<std::string>& cells) {
  return fmt::format("{}\n", fmt::join(cells, ","));
}

std::string results_csv(const Ablation& a, const AblationResults& results) {
  std::vector<std::string> header = {"arm", "seed"};
  for (const AblationMetric& m : a.metric()) header.push_back(csv_field(m.label()));
  std::string csv = csv_line(header);
  for (const RunResult& r : results.runs) {
    std::vector<std::string> row = {r.arm, fmt::format("{}", r.seed)};
    for (const std::optional<double>& v : r.metrics) row.push_back(v ? csv_number(*v) : "");
    csv += csv_line(row);
  }
  return csv;
}

std::string summary_csv(const Ablation& a, const AblationResults& results) {
  std::vector<std::string> header = {"arm", "n_seeds"};
  for (const AblationMetric& m : a.metric()) {
    header.push_back(csv_field(m.label() + "_mean"));
    header.push_back(csv_field(m.label() + "_std"));
  }
  std::string csv = csv_line(header);
  for (const ArmResult& arm : results.arms) {
    std::vector<std::string> row = {arm.arm, fmt::format("{}", arm.finished)};
    for (const MeanStd& m : arm.metrics) {
      row.push_back(m.n > 0 ? csv_number(m.mean) : "");
      row.push_back(m.n > 1 ? csv_number(m.std) : "");
    }
    csv += csv_line(row);
  }
  return csv;
}

// Mean training loss over an arm's finished seeds at every step any of them logged.
Series mean_loss_curve(const std::string& arm, const AblationResults& results) {
  std::map<double, std::pair<double, int>> by_step;
  for (const RunResult& r : results.runs) {
    if (r.arm != arm) continue;
    for (size_t i = 0; i < r.steps.size(); ++i) {
      auto& [sum, n] = by_step[r.steps[i]];
      sum += r.losses[i];
      ++n;
    }
  }
  Series s{arm, {}, {}};
  for (const auto& [step, acc] : by_step) {
    s.xs.push_back(step);
    s.ys.push_back(acc.first / acc.second);
  }
  return s;
}

}  // namespace

bool run_finished(const AblationRun& run) {
  std::error_code ec;
  return fs::exists(fs::path(run.run_dir) / kRunDoneMarker, ec);
}

std::string format_mean_std(const MeanStd& m) {
  if (m.n == 0) return "-";
  if (m.n == 1) return number(m.mean);
  return number(m.mean) + " ± " + number(m.std);
}

std::string results_table(const AblationPlan& plan, const AblationResults& results) {
  const Ablation& a = plan.ablation;
  std::string md = "| arm | seeds |";
  for (const AblationMetric& m : a.metric()) md += fmt::format(" {} |", md_cell(m.label()));
  md += "\n|---|---|";
  for (int i = 0; i < a.metric_size(); ++i) md += "---|";
  md += "\n";
  for (const ArmResult& arm : results.arms) {
    md += fmt::format("| {} | {} |", arm.arm, arm_seeds_cell(arm));
    for (const MeanStd& m : arm.metrics) {
      std::string cell = format_mean_std(m);
      if (m.n > 0 && m.n < arm.finished) cell += fmt::format(" (n={})", m.n);
      md += fmt::format(" {} |", cell);
    }
    md += "\n";
  }
  return md;
}

RunResult reduce_run(const Ablation& ablation, const AblationRun& run,
                     const std::vector<nlohmann::json>& rows) {
  RunResult r;
  r.arm = run.arm;
  r.seed = run.seed;
  for (const AblationMetric& m : ablation.metric()) {
    const std::vector<double> values = metric_values(rows, m.key());
    if (values.empty())
      r.metrics.emplace_back(std::nullopt);
    else
      r.metrics.emplace_back(reduce_metric(values, m.reduce(), ablation.spike_ratio()));
  }
  for (const nlohmann::json& row : rows) {
    const auto step = row.find("step"), loss = row.find("loss");
    if (step == row.end() || loss == row.end() || !step->is_number()) continue;
    r.steps.push_back(step->get<double>());
    r.losses.push_back(loss->is_number() ? loss->get<double>() : NAN);
  }
  return r;
}

AblationResults collect_results(const AblationPlan& plan) {
  const Ablation& a = plan.ablation;
  AblationResults out;
  for (const Ablation::Arm& arm : a.arm()) {
    ArmResult ar;
    ar.arm = arm.name();
    std::vector<std::vector<double>> per_metric(a.metric_size());
    for (const AblationRun* run : runs_of_arm(plan, arm.name())) {
      ++ar.planned;
      if (!run_finished(*run)) continue;
      ++ar.finished;
      out.runs.push_back(
          reduce_run(a, *run, read_metrics((fs::path(run->run_dir) / "metrics.jsonl").string())));
      for (int i = 0; i < a.metric_size(); ++i)
        if (out.runs.back().metrics[i]) per_metric[i].push_back(*out.runs.back().metrics[i]);
    }
    for (const std::vector<double>& values : per_metric) ar.metrics.push_back(mean_std(values));
    out.arms.push_back(std::move(ar));
  }
  return out;
}

std::vector<std::string> write_results(const AblationPlan& plan, const AblationResults& results,
                                       const ResultsInfo& info) {
  const Ablation& a = plan.ablation;
  const fs::path out(plan.out_dir), plots = out / "plots";
  std::error_code ec;
  fs::create_directories(plots, ec);
  if (ec) ATTN_FAIL(kIo, "{}: cannot create directory: {}", plots.string(), ec.message());
  std::vector<std::string> written;
  auto write = [&](const fs::path& p, const std::string& text) {
    write_file_atomic(p.string(), text);
    written.push_back(p.string());
  };
  write(out / "results.md", results_md(plan, results, info));
  write(out / "results.csv", results_csv(a, results));
  write(out / "results_summary.csv", summary_csv(a, results));

  std::vector<Series> curves;
  for (const ArmResult& arm : results.arms) curves.push_back(mean_loss_curve(arm.arm, results));
  write_line_plot((plots / "loss.png").string(),
                  fmt::format("{}: training loss, mean over seeds", a.name()), "step", "loss",
                  curves);
  written.push_back((plots / "loss.png").string());

  for (int i = 0; i < a.metric_size(); ++i) {
    const AblationMetric& m = a.metric(i);
    std::vector<Bar> bars;
    for (const ArmResult& arm : results.arms)
      bars.push_back({arm.arm, arm.metrics[i].n > 0 ? arm.metrics[i].mean : NAN,
                      arm.metrics[i].n > 1 ? arm.metrics[i].std : 0.0});
    const std::string how =
        m.reduce() == AblationMetric::LAST
            ? m.key()
            : fmt::format("{} of {}", AblationMetric::Reduce_Name(m.reduce()), m.key());
    const std::string title = how == m.label() ? m.label() : fmt::format("{} ({})", m.label(), how);
    const fs::path p = plots / (label_file_stem(m.label()) + ".png");
    write_bar_chart(p.string(), title + ", mean +- std over seeds", m.label(), bars);
    written.push_back(p.string());
  }
  return written;
}

}  // namespace attn
