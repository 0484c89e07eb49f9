// B2 causal attention core benchmark (BENCH.md): one document of T tokens, H heads of D dims,
// fp32 on the CPU, timed like the PyTorch peer (../shared/bench/torch_attn_bench.py) so that
// tools/bench/bench.py can print the two side by side.
//
//   attnlab_bench_attention --T 4096 --mode fwd|fwdbwd [--threads 2] [--warmup 2] [--iters 7]
//                           [--heads 8] [--dim 64] [--seed 1234] [--adl none|fused|materialised]
//                           [--json]
//
// One measurement per process: peak RSS (VmHWM) is a per-process high-water mark, so a second
// measurement in the same process would inherit the first one's peak.
//   fwd    : core_attention under NoGrad (the peer times `with torch.no_grad()`).
//   fwdbwd : grads reset (the peer sets .grad = None), core_attention, loss = sum(out * G) with
//            G fixed random (the peer's out.backward(gout)), backward(loss). The mul + sum is
//            O(T) work, negligible next to the O(T^2) attention.
// --adl (fwdbwd only): adds ADL (weight 1, mean form, theta 2) on the same q, k to the loss, to
// measure the fused path's time and memory against plain attention (bench.py losses); FLOPs
// stay attention's.
// FLOPs are the peer's nominal causal count: fwd = 2*B*H*T*T*D, fwd+bwd = 2.5x fwd.
// RSS growth is the peer's: peak RSS after the timed loops minus peak RSS right after the inputs
// are allocated (the peer reads ru_maxrss, i.e. VmHWM, at both points).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "framework/autograd/tape.h"
#include "framework/core/allocator.h"
#include "framework/core/threads.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/rng/philox.h"
#include "layers/attention/core_attention.h"
#include "layers/losses/adl_fused.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  int64_t T = 4096;
  std::string mode = "fwdbwd";
  int threads = 2;
  int warmup = 2;
  int iters = 7;
  int64_t heads = 8;
  int64_t dim = 64;
  uint64_t seed = 1234;
  std::string adl = "none";
  bool json = false;
};

// A field of /proc/self/status ("VmRSS", "VmHWM") in MiB; the kernel reports kB.
double proc_status_mib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, field.size() + 1, field + ":") == 0)
      return std::stod(line.substr(field.size() + 1)) / 1024.0;
  }
  ATTN_FAIL(kIo, "/proc/self/status has no {} line", field);
}

double mib(size_t bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

attn::Tensor randn(const attn::Shape& shape, uint64_t seed, uint64_t stream, bool grad) {
  attn::Tensor t = attn::Tensor::empty(shape);
  attn::fill_normal(t, seed, stream, 0.0, 1.0);
  return t.set_requires_grad(grad);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int run(const Args& a) {
  attn::set_num_threads(a.threads);
  const double rss_before_inputs = proc_status_mib("VmRSS");

  const attn::Shape shape{a.T, a.heads, a.dim};
  attn::Tensor q = randn(shape, a.seed, 0, true);   // [T, H, D]
  attn::Tensor k = randn(shape, a.seed, 1, true);   // [T, H, D]
  attn::Tensor v = randn(shape, a.seed, 2, true);   // [T, H, D]
  attn::Tensor g = randn(shape, a.seed, 3, false);  // [T, H, D] fixed upstream gradient
  attn::Tensor cu = attn::Tensor::from_vector<int32_t>({2}, {0, static_cast<int32_t>(a.T)});
  attn::CoreAttentionOptions options;  // causal, scale 1/sqrt(D), no statistics
  const double hwm_baseline = proc_status_mib("VmHWM");

  const bool backward = a.mode == "fwdbwd";
  attn::Tensor out;
  auto step = [&] {
    if (!backward) {
      attn::NoGrad no_grad;
      out = attn::core_attention(q, k, v, cu, cu, attn::Tensor(), options).out;
      return;
    }
    for (attn::Tensor* t : {&q, &k, &v}) t->set_grad(attn::Tensor());
    const attn::CoreAttentionResult r =
        attn::core_attention(q, k, v, cu, cu, attn::Tensor(), options);
    out = r.out;
    attn::Tensor loss = attn::sum(attn::mul(out, g));
    if (a.adl == "fused")
      loss = attn::add(loss, attn::adl_fused(q, k, attn::Tensor(), r.lse, cu, options, {}));
    else if (a.adl == "materialised")
      loss = attn::add(loss, attn::adl_materialised(q, k, attn::Tensor(), cu, options, {}));
    attn::backward(loss);
  };

  for (int i = 0; i < a.warmup; ++i) step();
  attn::reset_peak_stats(attn::Device{});
  std::vector<double> seconds;
  for (int i = 0; i < a.iters; ++i) {
    const auto t0 = Clock::now();
    step();
    seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  const double hwm_after = proc_status_mib("VmHWM");
  const attn::AllocatorStats alloc = attn::allocator_stats(attn::Device{});

  // Fail loudly rather than time a kernel that produced garbage.
  double checksum = 0;
  for (const float x : out.to_vector<float>()) checksum += x;
  if (backward)
    for (const attn::Tensor* t : {&q, &k, &v})
      for (const float x : t->grad().to_vector<float>()) checksum += x;
  if (!std::isfinite(checksum)) ATTN_FAIL(kInternal, "non-finite output or gradient");

  const double nominal_fwd = 2.0 * a.heads * static_cast<double>(a.T) * a.T * a.dim;  // B = 1
  const double flop = backward ? 2.5 * nominal_fwd : nominal_fwd;
  const double med = median(seconds);
  const double lo = *std::min_element(seconds.begin(), seconds.end());
  const double hi = *std::max_element(seconds.begin(), seconds.end());
  const std::string m = a.mode;
  nlohmann::ordered_json j;
  j["bench"] = "attnlab_causal_attn";
  j["mode"] = m;
  j["adl"] = a.adl;
  j["B"] = 1;
  j["H"] = a.heads;
  j["T"] = a.T;
  j["D"] = a.dim;
  j["threads"] = attn::num_threads();
  j["warmup"] = a.warmup;
  j["iters"] = a.iters;
  j[m + "_s_median"] = med;
  j[m + "_s_min"] = lo;
  j[m + "_s_max"] = hi;
  j["nominal_" + m + "_gflop"] = flop / 1e9;
  j[m + "_gflops"] = flop / med / 1e9;
  j["peak_rss_mib_baseline"] = hwm_baseline;
  j["peak_rss_growth_" + m + "_mib"] = hwm_after - hwm_baseline;
  j["rss_mib_before_inputs"] = rss_before_inputs;
  j["alloc_peak_in_use_mib"] = mib(alloc.peak_in_use);  // timed loop only, inputs included
  j["alloc_cached_mib"] = mib(alloc.bytes_cached);
  j["checksum"] = checksum;
  if (a.json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::printf(
        "attnlab causal attention %s T=%lld H=%lld D=%lld threads=%d: median %.2f ms "
        "(min %.2f, max %.2f), %.1f GFLOP/s nominal, peak RSS growth %.1f MiB\n",
        m.c_str(), static_cast<long long>(a.T), static_cast<long long>(a.heads),
        static_cast<long long>(a.dim), attn::num_threads(), med * 1e3, lo * 1e3, hi * 1e3,
        flop / med / 1e9, hwm_after - hwm_baseline);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"attnlab B2 causal attention benchmark (one measurement per process)"};
  app.add_option("--T", a.T, "tokens of the single document")->check(CLI::PositiveNumber);
  app.add_option("--mode", a.mode, "fwd or fwdbwd")->check(CLI::IsMember({"fwd", "fwdbwd"}));
  app.add_option("--threads", a.threads, "OpenMP/BLAS threads")->check(CLI::PositiveNumber);
  app.add_option("--warmup", a.warmup, "untimed iterations")->check(CLI::NonNegativeNumber);
  app.add_option("--iters", a.iters, "timed iterations")->check(CLI::PositiveNumber);
  app.add_option("--heads", a.heads, "attention heads")->check(CLI::PositiveNumber);
  app.add_option("--dim", a.dim, "head dimension")->check(CLI::PositiveNumber);
  app.add_option("--seed", a.seed, "Philox seed of q, k, v and the upstream gradient");
  app.add_option("--adl", a.adl, "fwdbwd: add ADL to the loss (none, fused, materialised)")
      ->check(CLI::IsMember({"none", "fused", "materialised"}));
  app.add_flag("--json", a.json, "print one JSON line (the fields of the peer's)");
  CLI11_PARSE(app, argc, argv);
  if (a.adl != "none" && a.mode != "fwdbwd") {
    std::fprintf(stderr, "attnlab_bench_attention: --adl needs --mode fwdbwd\n");
    return 2;
  }
  try {
    return run(a);
  } catch (const attn::Error& e) {
    std::fprintf(stderr, "attnlab_bench_attention: %s\n", e.what());
    return e.exit_code();
  }
}
