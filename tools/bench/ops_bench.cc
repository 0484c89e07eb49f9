// Microbenchmarks of the CPU ops that dominate a training step: matmul and LayerNorm, forward
// and forward+backward, each reported against the SGEMM peak measured in the same process.
//
//   build/tools/bench/attnlab_bench_ops [--threads N] [google-benchmark flags]
//
// Counters: GFLOP/s (matmul), GB/s (LayerNorm, bytes that must cross memory), pct_peak =
// share of this run's SGEMM peak (the physical limit for GEMM-bound work on this machine).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "framework/autograd/tape.h"
#include "framework/core/threads.h"
#include "framework/kernels/cpu/gemm.h"
#include "framework/ops/matmul.h"
#include "framework/ops/norm.h"
#include "framework/ops/reduce.h"
#include "framework/rng/philox.h"

namespace {

using Clock = std::chrono::steady_clock;
double g_sgemm_peak = 0;  // GFLOP/s, measured once in main()

attn::Tensor randn(const attn::Shape& s, uint64_t stream, bool grad) {
  attn::Tensor t = attn::Tensor::empty(s);
  attn::fill_normal(t, 1, stream, 0.0, 1.0);
  return t.set_requires_grad(grad);
}

// Times the loop body ourselves so the derived counters use exactly the measured interval.
template <typename F>
void timed_loop(benchmark::State& state, double flops, double bytes, F&& body) {
  body();  // warm-up: populates the allocator cache, as in a training loop
  double seconds = 0;
  int64_t iters = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    body();
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    ++iters;
  }
  if (flops > 0) {
    double gflops = flops * iters / seconds / 1e9;
    state.counters["GFLOP/s"] = gflops;
    state.counters["pct_peak"] = 100.0 * gflops / g_sgemm_peak;
  }
  if (bytes > 0) state.counters["GB/s"] = bytes * iters / seconds / 1e9;
}

double measure_sgemm_peak() {
  const int64_t n = 2048;
  attn::Tensor a = randn({n, n}, 1, false), b = randn({n, n}, 2, false),
               c = randn({n, n}, 3, false);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = Clock::now();
    attn::cpu::gemm<float>(false, false, n, n, n, 1.f, a.data<float>(), b.data<float>(), 0.f,
                           c.data<float>());
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, 2.0 * n * n * n / s / 1e9);
  }
  return best;
}

void BM_SgemmPeak(benchmark::State& state) {
  const int64_t n = state.range(0);
  attn::Tensor a = randn({n, n}, 1, false), b = randn({n, n}, 2, false),
               c = randn({n, n}, 3, false);
  timed_loop(state, 2.0 * n * n * n, 0, [&] {
    attn::cpu::gemm<float>(false, false, n, n, n, 1.f, a.data<float>(), b.data<float>(), 0.f,
                           c.data<float>());
  });
}

// A linear layer's product x [rows, in] W^T, W [out, in]; fwd+bwd adds dX and dW (3x the FLOPs).
void BM_Matmul(benchmark::State& state) {
  const int64_t rows = state.range(0), in = state.range(1), out = state.range(2);
  const bool with_backward = state.range(3) != 0;
  attn::Tensor x = randn({rows, in}, 4, with_backward), w = randn({out, in}, 5, with_backward);
  double fwd = 2.0 * rows * in * out;
  timed_loop(state, with_backward ? 3 * fwd : fwd, 0, [&] {
    attn::Tensor y = attn::matmul(x, w, false, true);
    if (with_backward) attn::backward(attn::sum(y));
    benchmark::DoNotOptimize(y.raw());
  });
  state.SetLabel(with_backward ? "fwd+bwd" : "fwd");
}

// LayerNorm traffic: fwd reads x, writes y; bwd reads dy and x, writes dx (dy of sum() is
// materialised by the reduction's backward and counted as one read).
void BM_LayerNorm(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  const bool with_backward = state.range(2) != 0;
  attn::Tensor x = randn({rows, cols}, 6, with_backward);
  attn::Tensor w = randn({cols}, 7, with_backward), b = randn({cols}, 8, with_backward);
  double bytes = 4.0 * rows * cols * (with_backward ? 5 : 2);
  timed_loop(state, 0, bytes, [&] {
    attn::Tensor y = attn::layer_norm(x, w, b, 1e-5);
    if (with_backward) attn::backward(attn::sum(y));
    benchmark::DoNotOptimize(y.raw());
  });
  state.SetLabel(with_backward ? "fwd+bwd" : "fwd");
}

BENCHMARK(BM_SgemmPeak)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();
// GPT-2 small linear shapes (B*T = 1024 tokens) and the BENCH.md "small" config (2048 tokens).
BENCHMARK(BM_Matmul)
    ->Args({1024, 768, 2304, 0})
    ->Args({1024, 768, 2304, 1})
    ->Args({1024, 768, 3072, 0})
    ->Args({1024, 768, 3072, 1})
    ->Args({2048, 256, 1024, 0})
    ->Args({2048, 256, 1024, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_LayerNorm)
    ->Args({1024, 768, 0})
    ->Args({1024, 768, 1})
    ->Args({8192, 768, 0})
    ->Args({8192, 768, 1})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  // Our own flag first; the rest goes to Google Benchmark.
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
      threads = std::stoi(argv[++i]);
    else
      rest.push_back(argv[i]);
  }
  attn::set_num_threads(threads);
  g_sgemm_peak = measure_sgemm_peak();
  std::printf("attnlab ops bench: %d threads, SGEMM peak (n=2048, best of 5) %.1f GFLOP/s\n",
              threads, g_sgemm_peak);
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
