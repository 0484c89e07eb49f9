// The CAD planner's speed (SPEC-cad; target: under 50 ms for 2,000 documents on 512 servers, one
// core). Batches are long-tailed like the simulator's: most documents short, a few up to 64K.
//
//   build/tools/bench/attnlab_bench_cad_planner [google-benchmark flags]
//
// Counters: tasks and moves of the plan, imbalance (max / mean load) after planning.
#include <benchmark/benchmark.h>

#include <random>

#include "parallel/cad/planner.h"

namespace {

std::vector<int64_t> long_tailed(int docs, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> lengths;
  for (int d = 0; d < docs; ++d) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    // Pareto-like: 1 - u in (0, 1]; lengths 128 .. 65536.
    lengths.push_back(std::min<int64_t>(65536, static_cast<int64_t>(128 / std::pow(1 - u, 0.9))));
  }
  return lengths;
}

void BM_Planner(benchmark::State& state) {
  const int docs = static_cast<int>(state.range(0)), servers = static_cast<int>(state.range(1));
  const attn::cad::WorkerLayout layout(long_tailed(docs, 7), servers);
  attn::cad::Plan plan;
  for (auto _ : state) {
    plan = attn::cad::plan_attention(layout);
    benchmark::DoNotOptimize(plan.tasks.data());
  }
  state.counters["tasks"] = static_cast<double>(plan.tasks.size());
  state.counters["moves"] = plan.moves;
  state.counters["imbalance"] = plan.imbalance();
}

BENCHMARK(BM_Planner)
    ->Args({2000, 64})
    ->Args({2000, 128})
    ->Args({2000, 512})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
