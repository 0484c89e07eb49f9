#include "parallel/cad/sim/projection.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/io/png_plot.h"

namespace attn::cad::sim {

namespace {

Batch sample_step(const ProjectionConfig& c, int ranks, int64_t context, int step) {
  LengthDistribution d = c.lengths;
  d.max_length = context;
  LengthSampler sampler(d, c.seed * 1000003u + static_cast<uint64_t>(step));
  // Each rank's sequence is packed on its own (the last document cut to fit), as data loaders
  // pack: no document crosses a rank boundary, so no scheme pays for a prefix on another rank.
  Batch batch(c.microbatches);
  for (std::vector<int64_t>& micro : batch)
    for (int r = 0; r < ranks; ++r) {
      const std::vector<int64_t> own = sample_batch(sampler, context);
      micro.insert(micro.end(), own.begin(), own.end());
    }
  return batch;
}

// Sums of the steps' results, turned into per-step means at the end.
struct Accumulator {
  SchemeResult sum;
  int steps = 0;
  void add(const SchemeResult& r) {
    sum.scheme = r.scheme;
    sum.cp = r.cp;
    sum.step_s += r.step_s;
    sum.compute_only_s += r.compute_only_s;
    sum.attention_max_s += r.attention_max_s;
    sum.attention_mean_s += r.attention_mean_s;
    sum.busy_mean_s += r.busy_mean_s;
    sum.memory_max_bytes = std::max(sum.memory_max_bytes, r.memory_max_bytes);
    sum.memory_mean_bytes = std::max(sum.memory_mean_bytes, r.memory_mean_bytes);
    sum.planner_max_s = std::max(sum.planner_max_s, r.planner_max_s);
    sum.tokens += r.tokens;
    ++steps;
  }
  SchemeResult mean() const {
    SchemeResult r = sum;
    const double n = steps;
    r.step_s /= n, r.compute_only_s /= n, r.attention_max_s /= n, r.attention_mean_s /= n;
    r.busy_mean_s /= n;
    r.tokens = sum.tokens / steps;
    return r;
  }
};

SchemeResult simulate(const std::string& scheme, const Costs& costs, const Network& net,
                      const SimSetup& setup, const Batch& batch, int cp) {
  if (scheme == "packing") return simulate_packing(costs, net, setup, batch);
  if (scheme == "wlb") return simulate_wlb(costs, net, setup, batch);
  if (scheme == "cp") return simulate_context_parallel(costs, net, setup, batch, cp);
  if (scheme == "cad") return simulate_cad(costs, net, setup, batch, false);
  if (scheme == "cad+pingpong") return simulate_cad(costs, net, setup, batch, true);
  ATTN_FAIL(kInput, "cad-sim: unknown scheme \"{}\" (packing, wlb, cp, cad, cad+pingpong)", scheme);
}

std::string scheme_label(const SchemeResult& r) {
  return r.scheme == "cp" ? fmt::format("cp (c={})", r.cp) : r.scheme;
}

double gib(double bytes) {
  return bytes / (1024.0 * 1024.0 * 1024.0);
}

}  // namespace

int64_t parse_tokens(const std::string& text) {
  std::string digits = text;
  int64_t unit = 1;
  if (!digits.empty() && (digits.back() == 'K' || digits.back() == 'k')) unit = 1024;
  if (!digits.empty() && (digits.back() == 'M' || digits.back() == 'm')) unit = 1024 * 1024;
  if (unit != 1) digits.pop_back();
  if (digits.empty() || digits.size() > 12 ||
      !std::all_of(digits.begin(), digits.end(), [](unsigned char ch) { return std::isdigit(ch); }))
    ATTN_FAIL(kInput, "\"{}\" is not a token count (like 4096, 128K or 1M)", text);
  const int64_t n = std::stoll(digits) * unit;
  if (n < 2) ATTN_FAIL(kInput, "a context of {} tokens is too short (at least 2)", text);
  return n;
}

std::string format_tokens(int64_t tokens) {
  if (tokens % (1024 * 1024) == 0) return fmt::format("{}M", tokens / (1024 * 1024));
  if (tokens % 1024 == 0) return fmt::format("{}K", tokens / 1024);
  return std::to_string(tokens);
}

std::vector<ProjectionRow> run_projection(const ProjectionConfig& c,
                                          const std::function<void(const std::string&)>& progress) {
  if (c.steps < 1 || c.microbatches < 1)
    ATTN_FAIL(kInput, "cad-sim: steps ({}) and micro-batches ({}) must be positive", c.steps,
              c.microbatches);
  for (const std::string& s : c.schemes)
    if (s != "packing" && s != "wlb" && s != "cp" && s != "cad" && s != "cad+pingpong")
      ATTN_FAIL(kInput, "cad-sim: unknown scheme \"{}\" (packing, wlb, cp, cad, cad+pingpong)", s);
  const Costs costs(c.model, c.hardware, c.tp, c.recompute);
  std::vector<ProjectionRow> rows;
  for (int64_t context : c.contexts) {
    for (int gpus : c.gpus) {
      if (gpus < c.tp || gpus % c.tp)
        ATTN_FAIL(kInput, "cad-sim: {} GPUs are not a whole number of {}-GPU ranks", gpus, c.tp);
      const int ranks = gpus / c.tp;
      const Network net(c.hardware, c.tp, ranks);
      SimSetup setup{ranks, context, c.planner};
      std::vector<Batch> batches;
      for (int s = 0; s < c.steps; ++s) batches.push_back(sample_step(c, ranks, context, s));
      std::vector<ProjectionRow> point;
      for (const std::string& scheme : c.schemes) {
        if (progress)
          progress(fmt::format("{} GPUs, context {}: {}", gpus, format_tokens(context), scheme));
        // Context parallelism at its best degree for this point (a user would tune it).
        std::vector<int> degrees{0};
        if (scheme == "cp") {
          degrees.clear();
          for (int d = 2; d <= ranks; d *= 2)
            if (ranks % d == 0) degrees.push_back(d);
          if (degrees.empty()) degrees.push_back(1);
        }
        SchemeResult best;
        for (int cp : degrees) {
          Accumulator acc;
          for (const Batch& b : batches) acc.add(simulate(scheme, costs, net, setup, b, cp));
          const SchemeResult r = acc.mean();
          if (best.step_s == 0 || r.step_s < best.step_s) best = r;
        }
        point.push_back({gpus, context, best, 1});
      }
      const auto base = std::find_if(point.begin(), point.end(), [](const ProjectionRow& r) {
        return r.result.scheme == "packing";
      });
      for (ProjectionRow& r : point)
        if (base != point.end() && r.result.tokens_per_s() > 0)
          r.speedup = r.result.tokens_per_s() / base->result.tokens_per_s();
      rows.insert(rows.end(), point.begin(), point.end());
    }
  }
  return rows;
}

std::string projection_markdown(const ProjectionConfig& c, const std::vector<ProjectionRow>& rows) {
  const ModelShape& m = c.model;
  const Hardware& h = c.hardware;
  std::string out = "# CAD simulator: projection\n\n";
  out +=
      "> **Every figure here is a projection** from attnlab's cost model (`attnlab cad-sim`), not "
      "a measurement: matrix products and attention at fixed efficiencies, an alpha-beta network, "
      "the real CAD planner's plans. Measured figures are in the calibration (tools/bench "
      "`attnlab_bench_cad_calibrate`) only.\n\n";
  out += fmt::format(
      "- model: {} ({} layers, width {}, {} heads, {} KV heads, MLP {} x {}, {} parameters)\n",
      m.name, m.layers, m.width, m.heads, m.kv_heads, m.mlp_matrices, m.ffn,
      m.params() >= 1e9 ? fmt::format("{:.2f} B", m.params() / 1e9)
                        : fmt::format("{:.2f} M", m.params() / 1e6));
  if (h.calibrated)
    out += fmt::format(
        "- hardware: {}, matrix products at {:.1f} GFLOP/s per rank, attention from the "
        "calibration {} ({:.4g} ns/pair, {:.4g} ns/row, {:.4g} ns/task)\n",
        h.name, h.peak_flops * h.matmul_efficiency * c.tp / 1e9, h.calibrated->source,
        h.calibrated->per_pair_ns, h.calibrated->per_row_ns, h.calibrated->per_task_ns);
  else
    out += fmt::format(
        "- hardware: {} ({:.0f} TFLOP/s per GPU; matrix products at {:.0f}%, attention at {:.0f}% "
        "counted in whole {}x{} tiles, at least {:.0f} us per packed call; links {:.0f} GB/s in a "
        "node, {:.0f} GB/s across nodes per GPU, alpha {:.0f} / {:.0f} us)\n",
        h.name, h.peak_flops / 1e12, 100 * h.matmul_efficiency, 100 * h.attention_efficiency,
        h.tile, h.tile, 1e6 * h.attention_floor_s, h.intra_bytes_per_s / 1e9,
        h.inter_bytes_per_s / 1e9, 1e6 * h.intra_alpha_s, 1e6 * h.inter_alpha_s);
  out += fmt::format(
      "- ranks: {} (ranks = the GPU column / {}); one micro-batch = context tokens per rank; {} "
      "micro-batch(es) per step; {} seeded steps per point (seed {}); {}\n",
      h.calibrated && h.name == "cpu" ? "one CPU process each"
                                      : fmt::format("tensor-parallel groups of {} GPUs", c.tp),
      c.tp, c.microbatches, c.steps, c.seed,
      c.recompute ? "selective recomputation (linear layers re-run in backward; the layer input, "
                    "Q, K, V and O kept)"
                  : "no recomputation (every activation kept)");
  const LengthDistribution& d = c.lengths;
  if (d.empirical.empty())
    out += fmt::format(
        "- documents: log-normal body (median {:.0f}, sigma {:.2f}) and {:.1f}% long documents "
        "log-uniform in [{}, {}] tokens, every document cut to the context\n",
        d.short_median, d.short_sigma, 100 * d.long_share, format_tokens(d.long_min),
        format_tokens(d.long_max));
  else
    out += fmt::format(
        "- documents: {} lengths from a token shard x {:.3g}, and {:.1f}% long documents "
        "log-uniform in [{}, {}] tokens, every document cut to the context\n",
        d.empirical.size(), d.empirical_scale, 100 * d.long_share, format_tokens(d.long_min),
        format_tokens(d.long_max));
  out += fmt::format("- CAD planner: eps {:.2f}, minimum slice {} rows\n\n", c.planner.eps,
                     c.planner.min_slice);
  out +=
      "| GPUs | context | scheme | Mtokens/s | speed-up | attention max/mean | idle | exposed "
      "comm | memory GiB max (max/mean) |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|\n";
  bool over_memory = false;
  for (const ProjectionRow& r : rows) {
    const SchemeResult& s = r.result;
    const bool over = h.memory_bytes > 0 && s.memory_max_bytes > h.memory_bytes;
    over_memory |= over;
    out += fmt::format(
        "| {} | {} | {} | {:.3f} | {:.2f}x | {:.2f} | {:.1f}% | {:.1f}% | {:.1f}{} ({:.2f}) |\n",
        r.gpus, format_tokens(r.context), scheme_label(s), s.tokens_per_s() / 1e6, r.speedup,
        s.attention_imbalance(), 100 * s.idle_fraction(),
        s.step_s > 0 ? 100 * s.exposed_comm_s() / s.step_s : 0.0, gib(s.memory_max_bytes),
        over ? " !" : "", s.memory_mean_bytes > 0 ? s.memory_max_bytes / s.memory_mean_bytes : 1.0);
  }
  if (over_memory)
    out += fmt::format(
        "\n! more than the {:.0f} GiB of one GPU: such a run needs activation recomputation or "
        "pipeline parallelism (`--recompute` models the selective kind; pipelines are not "
        "modelled).\n",
        gib(h.memory_bytes));
  out +=
      "\nColumns: tokens per second of a training step (forward and backward of every layer; the "
      "gradient all-reduce, equal for all schemes, is left out); speed-up over packing at the same "
      "point; attention max/mean: the busiest rank's core-attention time over the mean; idle: the "
      "share of the step a rank waits on average; exposed comm: step time minus the same step with "
      "free communication, over the step; memory: weights, gradients and AdamW state plus saved "
      "activations per GPU (CAD: plus what stateful servers keep; cp: plus one layer's gathered "
      "K/V), the peak rank and its ratio to the mean. cp is shown at its best degree.\n";
  return out;
}

std::string projection_jsonl(const std::vector<ProjectionRow>& rows) {
  std::string out;
  for (const ProjectionRow& r : rows) {
    const SchemeResult& s = r.result;
    nlohmann::json j{{"gpus", r.gpus},
                     {"context", r.context},
                     {"scheme", s.scheme},
                     {"cp", s.cp},
                     {"projection", true},
                     {"tokens_per_s", s.tokens_per_s()},
                     {"speedup", r.speedup},
                     {"step_s", s.step_s},
                     {"exposed_comm_s", s.exposed_comm_s()},
                     {"attention_imbalance", s.attention_imbalance()},
                     {"idle_fraction", s.idle_fraction()},
                     {"memory_max_bytes", s.memory_max_bytes},
                     {"memory_mean_bytes", s.memory_mean_bytes},
                     {"planner_max_s", s.planner_max_s}};
    out += j.dump() + "\n";
  }
  return out;
}

std::vector<std::string> write_projection_plots(const std::string& dir,
                                                const std::vector<ProjectionRow>& rows) {
  std::filesystem::create_directories(dir);
  std::vector<int64_t> contexts;
  for (const ProjectionRow& r : rows)
    if (std::find(contexts.begin(), contexts.end(), r.context) == contexts.end())
      contexts.push_back(r.context);
  struct Measure {
    const char* file;
    const char* label;
    double (*value)(const ProjectionRow&);
  };
  const Measure measures[] = {
      {"speedup", "speed-up over packing", [](const ProjectionRow& r) { return r.speedup; }},
      {"idle", "idle fraction", [](const ProjectionRow& r) { return r.result.idle_fraction(); }},
      {"attention_imbalance", "attention max/mean",
       [](const ProjectionRow& r) { return r.result.attention_imbalance(); }},
  };
  std::vector<std::string> paths;
  for (int64_t context : contexts) {
    for (const Measure& m : measures) {
      std::map<std::string, Series> by_scheme;
      std::vector<std::string> order;
      for (const ProjectionRow& r : rows) {
        if (r.context != context) continue;
        const std::string name = r.result.scheme;
        if (!by_scheme.count(name)) order.push_back(name);
        Series& s = by_scheme[name];
        s.name = name;
        s.xs.push_back(r.gpus);
        s.ys.push_back(m.value(r));
      }
      std::vector<Series> series;
      for (const std::string& n : order) series.push_back(by_scheme[n]);
      const std::string path =
          (std::filesystem::path(dir) / fmt::format("{}_{}.png", m.file, format_tokens(context)))
              .string();
      write_line_plot(path,
                      fmt::format("PROJECTION: {} at context {}", m.label, format_tokens(context)),
                      "GPUs", m.label, series);
      paths.push_back(path);
    }
  }
  return paths;
}

}  // namespace attn::cad::sim
