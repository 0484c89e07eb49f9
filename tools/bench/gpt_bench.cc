// B1 GPT training-step benchmark (BENCH.md): the model, optimizer and timing of the PyTorch peer
// (../shared/bench/torch_gpt_bench.py), one configuration per process so peak RSS is its own.
//
//   attnlab_bench_gpt --config tiny|small|gpt2s [--steps 20] [--warmup 3] [--threads 2] [--json]
//
// Model as the peer: token + learned position embedding, pre-LayerNorm blocks, causal MHA,
// exact-erf GELU MLP (4x), final LayerNorm, tied head, biases, init N(0, 0.02) everywhere (no
// depth-scaled residual init), AdamW(lr 3e-4, wd 0.1 on all parameters, betas 0.9/0.999, eps
// 1e-8), random token ids. A timed step = zero grads + forward + backward + optimizer step.
// matmul_gflop_per_step uses the peer's formula (full T x T attention products, although ours
// compute only the causal half), so the two rates are comparable.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "framework/autograd/tape.h"
#include "framework/core/param_store.h"
#include "framework/core/threads.h"
#include "layers/models/gpt.h"
#include "optim/adamw.h"
#include "tools/bench/gpt_bench_common.h"

namespace {

using attn::bench::GptBenchShape;

const std::map<std::string, GptBenchShape> kConfigs{
    {"tiny", {256, 128, 2, 4, 128, 8}},
    {"small", {256, 256, 4, 4, 256, 8}},
    {"gpt2s", {50304, 768, 12, 12, 256, 4}},
};

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: KiB
}

int run(const std::string& name, int steps, int warmup, int threads, uint64_t seed, bool json) {
  attn::set_num_threads(threads);
  const GptBenchShape& c = kConfigs.at(name);
  attn::ParamStore store;
  attn::Gpt model(store, attn::bench::peer_gpt_config(c, attn::MlpType::kGelu));
  store.finalize();
  store.initialize(seed);
  attn::AdamW opt(store, attn::bench::peer_adamw_options(3e-4));

  std::vector<attn::GptInput> data;
  for (int i = 0; i < warmup + steps; ++i)
    data.push_back(attn::bench::random_gpt_batch(c, seed + 1, i));
  std::vector<double> losses, times;
  auto step = [&](int i) {
    store.zero_grad();
    attn::Tensor loss = model.loss(data[i]);
    attn::backward(loss);
    opt.step();
    losses.push_back(loss.item());
  };
  const double rss_before = peak_rss_mib();
  for (int i = 0; i < warmup; ++i) step(i);
  for (int i = warmup; i < warmup + steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step(i);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const attn::bench::TimeSummary ts = attn::bench::summarize(times);
  const double med = ts.median;
  const double tokens = static_cast<double>(c.batch * c.seq);
  const double flops = attn::bench::peer_matmul_flops_per_step(c);
  nlohmann::ordered_json j;
  j["bench"] = "attnlab_gpt_train_step";
  j["config"] = name;
  j["vocab"] = c.vocab;
  j["d_model"] = c.d_model;
  j["layers"] = c.layers;
  j["heads"] = c.heads;
  j["seq"] = c.seq;
  j["batch"] = c.batch;
  j["params"] = store.num_elements();
  j["threads"] = attn::num_threads();
  j["warmup"] = warmup;
  j["steps"] = steps;
  j["step_s_median"] = med;
  j["step_s_min"] = ts.min;
  j["step_s_max"] = ts.max;
  j["tokens_per_s"] = tokens / med;
  j["matmul_gflop_per_step"] = flops / 1e9;
  j["matmul_gflops_achieved"] = flops / med / 1e9;
  j["peak_rss_mib"] = peak_rss_mib();
  j["peak_rss_mib_before_steps"] = rss_before;
  j["loss_first"] = losses.front();
  j["loss_last"] = losses.back();
  if (json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::printf(
        "attnlab gpt %s: %.2f ms/step (min %.2f, max %.2f), %.0f tokens/s, %.1f matmul "
        "GFLOP/s (peer formula), peak RSS %.0f MiB, loss %.4f -> %.4f\n",
        name.c_str(), med * 1e3, ts.min * 1e3, ts.max * 1e3, tokens / med, flops / med / 1e9,
        peak_rss_mib(), losses.front(), losses.back());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config = "tiny";
  int steps = 20, warmup = 3, threads = 2;
  uint64_t seed = 1234;
  bool json = false;
  CLI::App app{"attnlab B1 GPT training-step benchmark (one configuration per process)"};
  app.add_option("--config", config, "tiny, small or gpt2s")
      ->check(CLI::IsMember({"tiny", "small", "gpt2s"}));
  app.add_option("--steps", steps, "timed steps")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed steps")->check(CLI::NonNegativeNumber);
  app.add_option("--threads", threads, "OpenMP/BLAS threads")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "Philox seed of the weights and token ids");
  app.add_flag("--json", json, "print one JSON line (the fields of the peer's)");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(config, steps, warmup, threads, seed, json);
  } catch (const attn::Error& e) {
    std::fprintf(stderr, "attnlab_bench_gpt: %s\n", e.what());
    return e.exit_code();
  }
}
