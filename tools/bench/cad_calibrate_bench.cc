// CAD cost-model calibration (SPEC-cad "Planner", "Simulator", "Measures"): times the CPU
// core-attention kernel on packed bottom-right causal tasks, fits the planner's linear
// CostModel to it, then plans long-tailed batches with the fitted model and checks predicted
// against measured time per attention server on real runs of each server's packed call.
//
//   attnlab_bench_cad_calibrate [--threads 1] [--heads 4 --kv-heads 4 --dim 64]
//       [--mode fwd|fwdbwd] [--servers 4] [--batches 3] [--tokens-per-rank 4096]
//       [--iters 5] [--stat min|median] [--seed 1] [--min-ms 2] [--out cad_cost_curve.json]
//
// A server here is one core (--threads 1), so the servers are timed one after the other.
// Every time is the minimum (--stat) of --iters calls after one untimed call, in process CPU
// time with one thread (wall time with more). fwdbwd times the forward with q, k, v requiring
// grad plus backward(sum(out * G)) through the tape, as attention_bench does; the O(tokens)
// mul + sum is part of what a server would run anyway.
#include <fmt/format.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/core/threads.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/rng/philox.h"
#include "layers/attention/core_attention.h"
#include "parallel/cad/planner.h"
#include "tools/bench/cad_cost_fit.h"

namespace {

using namespace attn::bench;

// One thread: the process's CPU time, so that time-sharing the core with other processes (the
// machines this runs on are often busy) does not count; a server's busy time is what the
// planner balances. More threads: wall time, since CPU time would sum the threads.
bool g_cpu_clock = true;

double now_ns() {
  if (!g_cpu_clock)
    return std::chrono::duration<double, std::nano>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return 1e9 * static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec);
}
using nlohmann::ordered_json;

struct Args {
  int threads = 1;
  int64_t heads = 4, kv_heads = 4, dim = 64;
  std::string mode = "fwdbwd";
  std::string out = "cad_cost_curve.json";
  int servers = 4, batches = 3;
  int64_t tokens_per_rank = 4096;
  uint64_t seed = 1;
  int iters = 5;
  double min_ms = 2;
  std::string stat = "min";
};

// One attention server's packed variable-length call over `docs`, inputs random. Owns its
// tensors so that repeated calls time the kernel, not the allocation of inputs.
class PackedCall {
 public:
  PackedCall(const std::vector<TaskShape>& docs, const Args& a, uint64_t stream)
      : backward_(a.mode == "fwdbwd"), min_(a.stat == "min") {
    std::vector<int32_t> cu_q{0}, cu_k{0};
    for (const TaskShape& d : docs) {
      if (d.q < 1 || d.q > d.kv) ATTN_FAIL(kInternal, "task q_len {} kv_len {}", d.q, d.kv);
      cu_q.push_back(cu_q.back() + static_cast<int32_t>(d.q));
      cu_k.push_back(cu_k.back() + static_cast<int32_t>(d.kv));
    }
    const int64_t n = static_cast<int64_t>(docs.size());
    cu_q_ = attn::Tensor::from_vector<int32_t>({n + 1}, cu_q);
    cu_k_ = attn::Tensor::from_vector<int32_t>({n + 1}, cu_k);
    q_ = randn({cu_q.back(), a.heads, a.dim}, a.seed, 4 * stream + 0);     // [tokens_q, H, D]
    k_ = randn({cu_k.back(), a.kv_heads, a.dim}, a.seed, 4 * stream + 1);  // [tokens_k, Hkv, D]
    v_ = randn({cu_k.back(), a.kv_heads, a.dim}, a.seed, 4 * stream + 2);  // [tokens_k, Hkv, D]
    g_ = randn({cu_q.back(), a.heads, a.dim}, a.seed, 4 * stream + 3);     // [tokens_q, H, D]
    for (attn::Tensor* t : {&q_, &k_, &v_}) t->set_requires_grad(backward_);
  }

  double once_ns() {
    const double t0 = now_ns();
    step();
    return now_ns() - t0;
  }

  // --stat over `iters` timed calls after one untimed call.
  double time_ns(int iters) {
    once_ns();  // caches, allocator and thread pool warm
    std::vector<double> ns;
    for (int i = 0; i < iters; ++i) ns.push_back(once_ns());
    return min_ ? *std::min_element(ns.begin(), ns.end()) : median(ns);
  }

 private:
  static attn::Tensor randn(const attn::Shape& shape, uint64_t seed, uint64_t stream) {
    attn::Tensor t = attn::Tensor::empty(shape);
    attn::fill_normal(t, seed, stream, 0.0, 1.0);
    return t;
  }

  void step() {
    const attn::CoreAttentionOptions options;  // causal (bottom-right), 1/sqrt(D), no stats
    if (!backward_) {
      attn::NoGrad no_grad;
      out_ = attn::core_attention(q_, k_, v_, cu_q_, cu_k_, attn::Tensor(), options).out;
      return;
    }
    for (attn::Tensor* t : {&q_, &k_, &v_}) t->set_grad(attn::Tensor());
    out_ = attn::core_attention(q_, k_, v_, cu_q_, cu_k_, attn::Tensor(), options).out;
    attn::backward(attn::sum(attn::mul(out_, g_)));
  }

  bool backward_, min_;
  attn::Tensor q_, k_, v_, g_, cu_q_, cu_k_, out_;
};

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  return "unknown";
}

std::string host_name() {
  char buf[256] = {};
  return gethostname(buf, sizeof(buf) - 1) == 0 ? std::string(buf) : "unknown";
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Long-tailed batch: 1..servers long documents in [cap/2, cap] and lognormal short ones
// (median ~256) filling the rest exactly, shuffled so long documents cross rank boundaries.
std::vector<int64_t> long_tailed_batch(const Args& a, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int64_t total = a.servers * a.tokens_per_rank, cap = a.tokens_per_rank;
  std::vector<int64_t> lengths;
  int64_t used = 0;
  const int longs = 1 + static_cast<int>(rng() % static_cast<uint64_t>(a.servers));
  for (int i = 0; i < longs && used < total; ++i) {
    const int64_t len = std::min<int64_t>(
        total - used,
        std::uniform_int_distribution<int64_t>(std::max<int64_t>(1, cap / 2), cap)(rng));
    lengths.push_back(len);
    used += len;
  }
  std::lognormal_distribution<double> short_len(std::log(256.0), 1.0);
  while (used < total) {
    const int64_t len =
        std::min({total - used, cap, std::max<int64_t>(16, std::llround(short_len(rng)))});
    lengths.push_back(len);
    used += len;
  }
  std::shuffle(lengths.begin(), lengths.end(), rng);
  return lengths;
}

struct ServerTimes {
  std::vector<double> predicted, measured;  // [servers] ms
  std::vector<int64_t> tasks, rows;         // [servers]
};

double imbalance(const std::vector<double>& v) {
  double sum = 0, mx = 0;
  for (double x : v) sum += x, mx = std::max(mx, x);
  return sum > 0 ? mx / (sum / static_cast<double>(v.size())) : 1;
}

// The measured cost curve: per-call overhead and time per task over the (q_len, kv_len) grid.
struct Curve {
  double per_call_ns = 0;
  std::vector<TaskShape> grid;
  std::vector<int64_t> copies;
  std::vector<double> ns_per_task;
};

Curve measure_curve(const Args& a, uint64_t& stream) {
  Curve c;
  // What a call costs beyond its tasks (tape, allocation, dispatch): subtracted from the curve
  // so that copies per point do not leak into per_task, and added back to each server.
  c.per_call_ns = PackedCall({{1, 1}}, a, stream++).time_ns(std::max(a.iters, 21));
  for (int64_t q : {16, 64, 128, 256, 512, 1024, 2048})
    for (int64_t kv = q; kv <= 4096; kv *= 2) c.grid.push_back({q, kv});
  for (const TaskShape& s : c.grid) {
    PackedCall single({s}, a, stream++);
    single.once_ns();  // the first call of a shape allocates: not a time to size copies by
    const double one = single.once_ns();
    const int64_t n =
        std::clamp<int64_t>(std::llround(std::ceil(a.min_ms * 1e6 / std::max(one, 1.0))), 1, 4096);
    const double t = PackedCall(std::vector<TaskShape>(n, s), a, stream++).time_ns(a.iters);
    c.copies.push_back(n);
    c.ns_per_task.push_back(std::max(t - c.per_call_ns, 1.0) / static_cast<double>(n));
  }
  return c;
}

// Fits both models, prints the table, returns the points as JSON.
ordered_json fit_curve(const Curve& c, bool backward, int64_t min_slice, Fit& lin, Fit& tile) {
  // Fitted only on tasks a plan can hold: whole documents and slices of >= min_slice rows.
  // Thinner slices of a longer prefix run the kernel's tiles part-empty (a 16-row slice costs
  // ~1.6x per pair) and the planner never cuts them; the table shows them unfitted (*).
  std::vector<std::array<double, 3>> x_lin, x_tile, xl_fit, xt_fit;
  std::vector<double> y_fit;
  std::vector<bool> fitted;
  for (size_t i = 0; i < c.grid.size(); ++i) {
    const TaskShape& s = c.grid[i];
    x_lin.push_back({static_cast<double>(slice_pairs(s)), static_cast<double>(s.q), 1.0});
    x_tile.push_back({tile_area(s, backward), static_cast<double>(s.q), 1.0});
    fitted.push_back(s.q == s.kv || s.q >= min_slice);
    if (!fitted.back()) continue;
    xl_fit.push_back(x_lin.back());
    xt_fit.push_back(x_tile.back());
    y_fit.push_back(c.ns_per_task[i]);
  }
  lin = fit_relative(xl_fit, y_fit);
  tile = fit_relative(xt_fit, y_fit);
  fmt::print("{:>6} {:>6} {:>6} {:>12} {:>12} {:>8} {:>8}\n", "q_len", "kv_len", "copies",
             "us/task", "linear us", "lin err", "tile err");
  ordered_json points = ordered_json::array();
  for (size_t i = 0; i < c.grid.size(); ++i) {
    const double y = c.ns_per_task[i], fl = lin.predict(x_lin[i]), ft = tile.predict(x_tile[i]);
    fmt::print("{:6} {:6} {:6} {:12.2f} {:12.2f} {:7.1f}% {:7.1f}%{}\n", c.grid[i].q, c.grid[i].kv,
               c.copies[i], y / 1e3, fl / 1e3, 100 * (fl / y - 1), 100 * (ft / y - 1),
               fitted[i] ? "" : " *");
    points.push_back({{"q_len", c.grid[i].q},
                      {"kv_len", c.grid[i].kv},
                      {"pairs", slice_pairs(c.grid[i])},
                      {"tile_area", x_tile[i][0]},
                      {"copies", c.copies[i]},
                      {"ns_per_task", y},
                      {"fitted", static_cast<bool>(fitted[i])},
                      {"linear_fit_ns", fl},
                      {"tile_fit_ns", ft}});
  }
  fmt::print(
      "linear fit: per_pair {:.4f} ns, per_row {:.1f} ns, per_task {:.0f} ns; rel err over the "
      "fitted points rms {:.1f}% max {:.1f}%\ntile-aware fit: per_area {:.4f} ns, per_row {:.1f} "
      "ns, per_task {:.0f} ns; rms {:.1f}% max {:.1f}% ({} fits better; the planner takes the "
      "linear form)\n",
      lin.c[0], lin.c[1], lin.c[2], 100 * lin.rms, 100 * lin.max, tile.c[0], tile.c[1], tile.c[2],
      100 * tile.rms, 100 * tile.max, tile.rms < lin.rms ? "tile-aware" : "linear");
  return points;
}

// Plans long-tailed batches with the fitted model (costs in ns) and times every server's packed
// call under plain packing and under the CAD plan; prints and returns the comparison.
// `ref` and ref_ns: a fixed call and its time next to the curve, timed again per batch, so that
// a drift of the machine's speed (a shared virtual machine's often is a few %) is told apart
// from errors of the model.
ordered_json validate(const Args& a, const attn::cad::PlannerOptions& popt, double per_call_ns,
                      PackedCall& ref, double ref_ns, uint64_t& stream) {
  auto time_servers = [&](const std::vector<attn::cad::Task>& tasks) {
    ServerTimes st;
    for (int s = 0; s < a.servers; ++s) {
      std::vector<TaskShape> docs;
      double pred = 0;
      int64_t rows = 0;
      for (const attn::cad::Task& t : tasks)
        if (t.server == s) {
          docs.push_back({t.rows(), t.kv_end()});
          pred += static_cast<double>(popt.cost.cost(t.q_begin, t.q_end));
          rows += t.rows();
        }
      st.tasks.push_back(static_cast<int64_t>(docs.size()));
      st.rows.push_back(rows);
      st.predicted.push_back(docs.empty() ? 0 : (pred + per_call_ns) / 1e6);
      st.measured.push_back(docs.empty() ? 0
                                         : PackedCall(docs, a, stream++).time_ns(a.iters) / 1e6);
    }
    return st;
  };
  // |error| max and sum, raw and with the prediction scaled by the batch's reference drift.
  double max_err[2] = {0, 0}, sum_err[2] = {0, 0}, imb_sum[2] = {0, 0};  // imb: packing, CAD
  int n_err = 0;
  ordered_json batches = ordered_json::array();
  fmt::print("\nvalidation: {} servers x {} tokens, {} batches, eps {:.2f}\n", a.servers,
             a.tokens_per_rank, a.batches, popt.eps);
  fmt::print("{:>5} {:>7} {:>6} {:>5} {:>6} {:>12} {:>12} {:>8}\n", "batch", "plan", "server",
             "tasks", "rows", "pred ms", "meas ms", "err");
  for (int b = 0; b < a.batches; ++b) {
    const uint64_t batch_seed = a.seed * 1000003 + static_cast<uint64_t>(b);
    const attn::cad::WorkerLayout layout(long_tailed_batch(a, batch_seed), a.servers);
    const attn::cad::Plan plan = attn::cad::plan_attention(layout, popt);
    std::vector<int64_t> lengths;
    for (int d = 0; d < layout.docs(); ++d) lengths.push_back(layout.length(d));
    const double drift = ref.time_ns(a.iters) / ref_ns;
    ordered_json jb = {{"seed", batch_seed},
                       {"reference_drift", drift},
                       {"lengths", lengths},
                       {"cad_moves", plan.moves},
                       {"cad_balanced", plan.balanced}};
    const std::vector<attn::cad::Task> packing = attn::cad::home_tasks(layout);
    const std::vector<attn::cad::Task>* plans[2] = {&packing, &plan.tasks};
    double imb_pred[2], imb_meas[2];
    for (int p = 0; p < 2; ++p) {
      const char* name = p == 0 ? "packing" : "cad";
      const ServerTimes st = time_servers(*plans[p]);
      for (int s = 0; s < a.servers; ++s) {
        const double err = st.measured[s] > 0 ? st.predicted[s] / st.measured[s] - 1 : 0;
        if (st.measured[s] > 0) {
          const double e[2] = {std::fabs(err), std::fabs((err + 1) * drift - 1)};
          for (int k = 0; k < 2; ++k) max_err[k] = std::max(max_err[k], e[k]), sum_err[k] += e[k];
          ++n_err;
        }
        fmt::print("{:5} {:>7} {:6} {:5} {:6} {:12.2f} {:12.2f} {:7.1f}%\n", b, name, s,
                   st.tasks[s], st.rows[s], st.predicted[s], st.measured[s], 100 * err);
      }
      imb_pred[p] = imbalance(st.predicted);
      imb_meas[p] = imbalance(st.measured);
      imb_sum[p] += imb_meas[p];
      jb[name] = {{"tasks", plans[p]->size()},
                  {"predicted_ms", st.predicted},
                  {"measured_ms", st.measured},
                  {"imbalance_predicted", imb_pred[p]},
                  {"imbalance_measured", imb_meas[p]}};
    }
    fmt::print(
        "batch {}: imbalance max/mean predicted packing {:.3f} cad {:.3f}; measured packing "
        "{:.3f} cad {:.3f}; reference call x{:.3f} its time at the fit{}\n",
        b, imb_pred[0], imb_pred[1], imb_meas[0], imb_meas[1], drift,
        plan.balanced ? "" : " (plan unbalanced: " + plan.unbalanced_why + ")");
    batches.push_back(jb);
  }
  const double mean_err = n_err ? sum_err[0] / n_err : 0, nb = std::max(a.batches, 1);
  const double mean_drift_err = n_err ? sum_err[1] / n_err : 0;
  fmt::print(
      "summary: per-server |error| max {:.1f}% mean {:.1f}% over {} servers (goal 10%); with "
      "the reference drift taken out max {:.1f}% mean {:.1f}%; measured imbalance mean packing "
      "{:.3f}, cad {:.3f}\n",
      100 * max_err[0], 100 * mean_err, n_err, 100 * max_err[1], 100 * mean_drift_err,
      imb_sum[0] / nb, imb_sum[1] / nb);
  return {{"servers", a.servers},
          {"tokens_per_rank", a.tokens_per_rank},
          {"eps", popt.eps},
          {"max_abs_rel_err", max_err[0]},
          {"mean_abs_rel_err", mean_err},
          {"max_abs_rel_err_drift_corrected", max_err[1]},
          {"mean_abs_rel_err_drift_corrected", mean_drift_err},
          {"mean_imbalance_measured_packing", imb_sum[0] / nb},
          {"mean_imbalance_measured_cad", imb_sum[1] / nb},
          {"batches", batches}};
}

int run(const Args& a) {
  if (a.heads % a.kv_heads != 0)
    ATTN_FAIL(kInput, "--kv-heads {} does not divide --heads {}", a.kv_heads, a.heads);
  attn::set_num_threads(a.threads);
  g_cpu_clock = attn::num_threads() == 1;
  uint64_t stream = 0;  // distinct Philox streams per PackedCall
  PackedCall ref({{1024, 1024}}, a, stream++);
  const double ref_before = ref.time_ns(a.iters);
  const Curve curve = measure_curve(a, stream);
  const double ref_after = ref.time_ns(a.iters), ref_ns = 0.5 * (ref_before + ref_after);
  fmt::print(
      "cost curve: {}, heads {}/{}, dim {}, {} thread(s), {} of {}, {} time; per call "
      "{:.1f} us; reference call (one 1024-token document) {:.2f} ms before, {:.2f} ms after\n",
      a.mode, a.heads, a.kv_heads, a.dim, attn::num_threads(), a.stat, a.iters,
      g_cpu_clock ? "CPU" : "wall", curve.per_call_ns / 1e3, ref_before / 1e6, ref_after / 1e6);
  attn::cad::PlannerOptions popt;
  Fit lin, tile;
  const ordered_json points = fit_curve(curve, a.mode == "fwdbwd", popt.min_slice, lin, tile);
  popt.cost = {lin.c[0], lin.c[1], lin.c[2]};
  const ordered_json validation = validate(a, popt, curve.per_call_ns, ref, ref_ns, stream);

  ordered_json j;
  j["bench"] = "attnlab_cad_calibrate";
  j["measured_at"] = utc_now();
  j["hostname"] = host_name();
  j["cpu_model"] = cpu_model();
  j["threads"] = attn::num_threads();
  j["mode"] = a.mode;
  j["heads"] = a.heads;
  j["kv_heads"] = a.kv_heads;
  j["dim"] = a.dim;
  j["iters"] = a.iters;
  j["stat"] = a.stat;
  j["clock"] = g_cpu_clock ? "process_cpu" : "wall";
  j["per_pair_ns"] = lin.c[0];
  j["per_row_ns"] = lin.c[1];
  j["per_task_ns"] = lin.c[2];
  j["per_call_ns"] = curve.per_call_ns;
  j["reference_call_ns"] = {ref_before, ref_after};
  j["min_slice"] = popt.min_slice;
  j["linear_fit"] = {{"rms_rel_err", lin.rms}, {"max_rel_err", lin.max}};
  j["tile_aware_fit"] = {
      {"block_q", 64},           {"block_k", 128},           {"per_area_ns", tile.c[0]},
      {"per_row_ns", tile.c[1]}, {"per_task_ns", tile.c[2]}, {"rms_rel_err", tile.rms},
      {"max_rel_err", tile.max}};
  j["better_fit"] = tile.rms < lin.rms ? "tile_aware" : "linear";
  j["points"] = points;
  j["validation"] = validation;
  // Write then rename, so a reader never sees half a file.
  const std::string tmp = a.out + ".tmp";
  {
    std::ofstream f(tmp);
    f << j.dump(2) << "\n";
    if (!f) ATTN_FAIL(kIo, "cannot write {}", tmp);
  }
  if (std::rename(tmp.c_str(), a.out.c_str()) != 0)
    ATTN_FAIL(kIo, "cannot rename {} to {}", tmp, a.out);
  fmt::print("wrote {}\n", a.out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{
      "Calibrates the CAD planner's cost model on the CPU core-attention kernel: times packed "
      "bottom-right causal tasks over a (q_len, kv_len) grid, fits time = per_pair * pairs + "
      "per_row * q_len + per_task, then plans long-tailed batches with it and compares predicted "
      "with measured time per server (packing and CAD). Writes the fit and the points as JSON."};
  app.option_defaults()->always_capture_default();
  app.add_option("--threads", a.threads, "threads of one server (a server is one core)")
      ->check(CLI::PositiveNumber);
  app.add_option("--heads", a.heads, "query heads")->check(CLI::PositiveNumber);
  app.add_option("--kv-heads", a.kv_heads, "key/value heads (divides --heads)")
      ->check(CLI::PositiveNumber);
  app.add_option("--dim", a.dim, "head dimension")->check(CLI::PositiveNumber);
  app.add_option("--mode", a.mode, "fwd (no grad) or fwdbwd (forward + tape backward)")
      ->check(CLI::IsMember({"fwd", "fwdbwd"}));
  app.add_option("--out", a.out, "JSON output, written atomically");
  app.add_option("--servers", a.servers, "attention servers (ranks) in the validation")
      ->check(CLI::Range(1, 512));
  app.add_option("--batches", a.batches, "long-tailed validation batches")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--tokens-per-rank", a.tokens_per_rank,
                 "tokens per rank; also the longest document")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--seed", a.seed, "seed of the batches and of the Philox inputs");
  app.add_option("--iters", a.iters, "timed calls per measurement (after 1 untimed)")
      ->check(CLI::PositiveNumber);
  app.add_option("--stat", a.stat,
                 "statistic of the timed calls; min is steadier on a shared or virtual machine")
      ->check(CLI::IsMember({"median", "min"}));
  app.add_option("--min-ms", a.min_ms, "pack copies of a grid task until a call takes this long")
      ->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    return run(a);
  } catch (const attn::Error& e) {
    std::fprintf(stderr, "attnlab_bench_cad_calibrate: %s\n", e.what());
    return e.exit_code();
  }
}
