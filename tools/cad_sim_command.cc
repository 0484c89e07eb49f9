// attnlab cad-sim: projects core attention disaggregation to scales that cannot run here
// (SPEC-cad "Simulator"). Every scheme (packing, WLB-LLM packing, per-document context
// parallelism, CAD, CAD with ping-pong) on the same seeded long-tailed batches, over a grid of
// GPU counts and context lengths, with the real CAD planner; writes results.md, results.jsonl
// and PNG plots, all labelled projections.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "framework/config/recipe_loader.h"
#include "framework/core/error.h"
#include "framework/io/file_util.h"
#include "parallel/cad/sim/projection.h"
#include "recipes/data/token_shard.h"
#include "tools/command.h"

namespace attn::cli {
namespace {

struct Args {
  std::string model = "llama-8b";
  std::string hardware = "h200";
  std::string calibration;
  double cpu_gflops = 20;
  int tp = 8;
  bool recompute = false;
  std::vector<int> gpus{64, 128, 256, 512};
  std::vector<std::string> contexts{"128K", "512K"};
  int microbatches = 1;
  int steps = 3;
  uint64_t seed = 1;
  double short_median = 1024, short_sigma = 1.5, long_share = 0.05;
  std::string long_min = "16K", long_max = "512K";
  std::string lengths_from;
  double length_scale = 1;
  std::vector<std::string> schemes{"packing", "wlb", "cp", "cad", "cad+pingpong"};
  double eps = 0.1;
  int64_t min_slice = 128;
  std::string out = "runs/cad_sim";
  bool quiet = false;
};

// A preset name, or a recipe whose model block gives the shape (the project's own GPTs).
cad::sim::ModelShape model_shape(const std::string& name) {
  if (auto preset = cad::sim::find_model_preset(name)) return *preset;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(name, ec))
    ATTN_FAIL(kInput, "--model {}: neither a preset (llama-8b, llama-34b) nor a recipe file", name);
  const config::Recipe recipe = config::load_recipe(name);
  const auto& m = recipe.model();
  cad::sim::ModelShape s;
  s.name = std::filesystem::path(name).stem().string();
  s.layers = m.layers();
  s.width = m.width();
  s.heads = m.heads();
  s.kv_heads = config::kv_heads(m);
  s.ffn = config::mlp_hidden(m);
  s.vocab = m.vocab_size();
  s.mlp_matrices = m.mlp() == attnlab::config::Model::SWIGLU ? 3 : 2;
  return s;
}

cad::sim::Hardware hardware(const Args& a) {
  cad::sim::Hardware h;
  if (a.hardware == "h200") {
    h = cad::sim::h200();
  } else if (a.hardware == "cpu") {
    // One rank = one CPU process on this machine; shared-memory MPI between ranks.
    if (a.calibration.empty())
      ATTN_FAIL(kInput,
                "--hardware cpu needs --calibration FILE (from attnlab_bench_cad_calibrate)");
    h.name = "cpu";
    h.peak_flops = a.cpu_gflops * 1e9;
    h.matmul_efficiency = 1;
    h.attention_efficiency = 1;
    h.gpus_per_node = 1 << 20;
    h.intra_alpha_s = h.inter_alpha_s = 2e-6;
    h.intra_bytes_per_s = h.inter_bytes_per_s = 5e9;
    h.memory_bytes = 24e9;
    h.bytes_per_value = 4;
  } else {
    ATTN_FAIL(kInput, "--hardware {}: expected h200 or cpu", a.hardware);
  }
  if (!a.calibration.empty()) h.calibrated = cad::read_calibration(a.calibration);
  return h;
}

std::vector<int64_t> shard_lengths(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    ATTN_FAIL(kInput, "--lengths-from {}: no such token shard", path);
  const TokenShard shard = read_token_shard(path);
  std::vector<int64_t> lengths;
  for (size_t d = 0; d < shard.num_docs(); ++d)
    if (shard.doc_length(d) > 0) lengths.push_back(static_cast<int64_t>(shard.doc_length(d)));
  if (lengths.empty()) ATTN_FAIL(kInput, "{}: the shard has no documents", path);
  return lengths;
}

int run(const Args& a) {
  cad::sim::ProjectionConfig c;
  c.model = model_shape(a.model);
  c.hardware = hardware(a);
  c.tp = a.tp;
  c.recompute = a.recompute;
  c.gpus = a.gpus;
  c.contexts.clear();
  for (const std::string& t : a.contexts) c.contexts.push_back(cad::sim::parse_tokens(t));
  c.microbatches = a.microbatches;
  c.steps = a.steps;
  c.seed = a.seed;
  c.lengths.short_median = a.short_median;
  c.lengths.short_sigma = a.short_sigma;
  c.lengths.long_share = a.long_share;
  c.lengths.long_min = cad::sim::parse_tokens(a.long_min);
  c.lengths.long_max = cad::sim::parse_tokens(a.long_max);
  if (!a.lengths_from.empty()) c.lengths.empirical = shard_lengths(a.lengths_from);
  c.lengths.empirical_scale = a.length_scale;
  c.schemes = a.schemes;
  c.planner.eps = a.eps;
  c.planner.min_slice = a.min_slice;

  const auto rows = cad::sim::run_projection(c, [&](const std::string& what) {
    if (!a.quiet) std::fprintf(stderr, "cad-sim: %s\n", what.c_str());
  });
  std::filesystem::create_directories(a.out);
  const std::string md = cad::sim::projection_markdown(c, rows);
  write_file_atomic((std::filesystem::path(a.out) / "results.md").string(), md);
  write_file_atomic((std::filesystem::path(a.out) / "results.jsonl").string(),
                    cad::sim::projection_jsonl(rows));
  const auto plots =
      cad::sim::write_projection_plots((std::filesystem::path(a.out) / "plots").string(), rows);
  std::fputs(md.c_str(), stdout);
  std::printf("\nwrote %s/results.md, %s/results.jsonl and %zu plots under %s/plots\n",
              a.out.c_str(), a.out.c_str(), plots.size(), a.out.c_str());
  return 0;
}

}  // namespace

Run add_cad_sim_command(CLI::App& app) {
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "cad-sim",
      "Project core attention disaggregation to 64-512 GPUs against packing baselines "
      "(a simulation: every figure it prints is a projection)");
  sub->add_option("--model", a->model, "llama-8b, llama-34b, or a recipe file (its model block)")
      ->capture_default_str();
  sub->add_option("--hardware", a->hardware, "h200, or cpu (needs --calibration)")
      ->capture_default_str();
  sub->add_option("--calibration", a->calibration,
                  "Attention cost curve JSON from attnlab_bench_cad_calibrate; replaces the tile "
                  "model of attention time");
  sub->add_option("--cpu-gflops", a->cpu_gflops, "--hardware cpu: matrix-product GFLOP/s per rank")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--tp", a->tp, "GPUs per rank (tensor parallelism); must divide every --gpus")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  sub->add_flag("--recompute", a->recompute,
                "Selective activation recomputation: linear layers re-run in backward, only the "
                "layer input and Q, K, V, O kept");
  sub->add_option("--gpus", a->gpus, "GPU counts to project")
      ->check(CLI::Range(1, 1 << 20))
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--context", a->contexts,
                  "Context lengths: tokens per rank per micro-batch and the longest document "
                  "(e.g. 128K,512K)")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--microbatches", a->microbatches, "Micro-batches per step")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  sub->add_option("--steps", a->steps, "Seeded steps averaged per point")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  sub->add_option("--seed", a->seed, "Seed of the document lengths")->capture_default_str();
  sub->add_option("--short-median", a->short_median, "Median length of the log-normal body")
      ->capture_default_str();
  sub->add_option("--short-sigma", a->short_sigma, "Log-space sigma of the body")
      ->capture_default_str();
  sub->add_option("--long-share", a->long_share,
                  "Fraction of documents from the up-sampled long tail")
      ->capture_default_str();
  sub->add_option("--long-min", a->long_min, "Shortest document of the long tail (tokens)")
      ->capture_default_str();
  sub->add_option("--long-max", a->long_max,
                  "Longest document of the long tail (tokens); documents are cut to the context")
      ->capture_default_str();
  sub->add_option("--lengths-from", a->lengths_from,
                  "A token shard (e.g. data/brown/train.bin): draw the body's lengths from its "
                  "documents instead of the log-normal");
  sub->add_option("--length-scale", a->length_scale, "Multiply the shard's lengths by this")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--schemes", a->schemes, "Schemes: packing, wlb, cp, cad, cad+pingpong")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--eps", a->eps, "CAD planner tolerance")
      ->check(CLI::Range(1e-6, 10.0))
      ->capture_default_str();
  sub->add_option("--min-slice", a->min_slice, "CAD planner: shortest slice a cut may leave")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->capture_default_str();
  sub->add_option("--out", a->out, "Output directory (results.md, results.jsonl, plots/)")
      ->capture_default_str();
  sub->add_flag("--quiet", a->quiet, "No progress lines on stderr");
  return [a] { return run(*a); };
}

}  // namespace attn::cli
