// B3 GPU benchmark (BENCH.md): the rows of ../shared/bench/torch_gpu_anchors.py measured through
// attnlab's public ops, one JSON line per measurement (driven by `tools/bench/bench.py gpu`).
//
//   attnlab_bench_gpu [--what gemm attn gpt] [--D 64 128] [--T 1024 ...] [--check] ...
//
// Timing: every iteration is bracketed by attn::cuda::synchronize() and a host steady clock
// (the peer brackets each iteration with CUDA events), warmup 3 and 10 timed iterations as the
// peer's cuda_time(); median and best are reported. FLOPs use the peer's conventions:
//   gemm 2 n^3; attn fwd = 2*2*B*H*T*T*D/2 (nominal causal), fwd+bwd = 3.5 x fwd;
//   gpt 6 * params * tokens + 12 * L * B * T * T * d / 2.
// Exit status: 0 every row measured, 1 some row failed (its line carries "error"), 2 no usable
// CUDA device (the reason goes to stderr; nothing is measured).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "framework/autograd/tape.h"
#include "framework/core/allocator.h"
#include "framework/core/error.h"
#include "framework/core/param_store.h"
#include "framework/kernels/cuda/runtime.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/matmul.h"
#include "framework/ops/reduce.h"
#include "framework/rng/philox.h"
#include "layers/attention/core_attention.h"
#include "layers/models/gpt.h"
#include "optim/adamw.h"
#include "tools/bench/gpt_bench_common.h"

namespace {

using json = nlohmann::ordered_json;
using attn::Device;
using attn::DType;
using attn::Tensor;

constexpr double kMiB = 1024.0 * 1024.0;

struct Options {
  std::vector<std::string> what{"gemm", "attn", "gpt"};
  int warmup = 3, iters = 10;
  uint64_t seed = 1234;
  int device = 0;
  int64_t gemm_n = 8192;
  std::vector<int64_t> Ds{64, 128}, Ts{1024, 2048, 4096, 8192, 16384};
  int64_t width = 2048, tokens = 16384;
  int64_t gpt_batch = 16, gpt_seq = 1024, gpt_vocab = 50304;  // the peer's padded vocabulary
  int gpt_warmup = 5, gpt_steps = 20;  // the peer: 3 steps + cuda_time(warmup=2, iters=20)
  std::string precision = "bf16";
  std::string attn_precision = "bf16";
};

void emit(const json& j) {
  std::cout << j.dump() << std::endl;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Seconds of each timed call of fn, device work included.
std::vector<double> time_calls(const std::function<void()>& fn, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ts;
  for (int i = 0; i < iters; ++i) {
    attn::cuda::synchronize();
    const double t0 = now_s();
    fn();
    attn::cuda::synchronize();
    ts.push_back(now_s() - t0);
  }
  return ts;
}

attn::MatmulPrecision parse_precision(const std::string& s) {
  if (s == "bf16") return attn::MatmulPrecision::kBf16;
  if (s == "tf32") return attn::MatmulPrecision::kTf32;
  return attn::MatmulPrecision::kF32;
}

Tensor randn_cuda(const attn::Shape& shape, uint64_t seed, uint64_t stream) {
  Tensor t = Tensor::empty(shape, DType::kF32, Device::cuda());
  attn::fill_normal(t, seed, stream, 0.0, 1.0);  // drawn on the host, copied once
  return t;
}

// Runs one measurement; a failure becomes the row's "error" so later rows still run.
bool guarded(json row, const std::function<void(json&)>& measure) {
  try {
    measure(row);
    emit(row);
    return true;
  } catch (const std::exception& e) {
    attn::clear_tape();
    row["error"] = e.what();
    emit(row);
    return false;
  }
}

// cuBLAS ceilings through attn::matmul (the peer's gemm rows). Our bf16 product takes f32
// tensors and rounds bf16 copies of both inputs on every call; the time includes those casts.
bool bench_gemm(const Options& o) {
  bool ok = true;
  const int64_t n = o.gemm_n;
  const Tensor a = randn_cuda({n, n}, o.seed, 1), b = randn_cuda({n, n}, o.seed, 2);
  const std::pair<const char*, attn::MatmulPrecision> kinds[] = {
      {"bf16", attn::MatmulPrecision::kBf16},
      {"tf32", attn::MatmulPrecision::kTf32},
      {"fp32", attn::MatmulPrecision::kF32}};
  for (const auto& kind : kinds) {
    const char* name = kind.first;
    const attn::MatmulPrecision p = kind.second;
    json row{{"kind", "gemm"}, {"dtype", name}, {"n", n}, {"inputs", "f32 tensors"}};
    ok &= guarded(row, [&](json& r) {
      attn::NoGrad no_grad;
      attn::CudaMatmulPrecisionScope scope(p);
      const auto ts =
          attn::bench::summarize(time_calls([&] { (void)attn::matmul(a, b); }, o.warmup, o.iters));
      const double fl = 2.0 * n * n * n;
      r["ms_med"] = ts.median * 1e3;
      r["ms_best"] = ts.min * 1e3;
      r["tflops_med"] = fl / ts.median / 1e12;
      r["tflops_best"] = fl / ts.min / 1e12;
    });
  }
  return ok;
}

// Causal attention on B packed documents of T tokens through core_attention (the peer's
// torch-sdpa-flash rows). q, k, v are f32 [B*T, H, D]; cu_seqlens stays on the CPU like the
// Gpt model's (layers/packed_sequences.h). fwd+bwd = out, then backward of sum(out * go): the
// row also reports that glue alone (mul + sum + their backward) so it can be taken out.
bool bench_attn(const Options& o) {
  bool ok = true;
  // Every (D, T) uses B*T*width elements; one set of buffers drawn once serves all of them.
  int64_t numel = 0;
  for (int64_t T : o.Ts) numel = std::max(numel, std::max<int64_t>(1, o.tokens / T) * T * o.width);
  const Tensor base[4] = {randn_cuda({numel}, o.seed, 10), randn_cuda({numel}, o.seed, 11),
                          randn_cuda({numel}, o.seed, 12), randn_cuda({numel}, o.seed, 13)};
  for (int64_t D : o.Ds) {
    for (int64_t T : o.Ts) {
      const int64_t H = o.width / D, B = std::max<int64_t>(1, o.tokens / T), n = B * T;
      // Under the bf16 precision forward and backward run on tensor cores (bf16 copies of q, k,
      // v and dout).
      json row{{"kind", "attn"},
               {"backend", "attnlab-core-attention"},
               {"dtype", o.attn_precision == "bf16" ? "bf16" : "f32"},
               {"B", B},
               {"H", H},
               {"T", T},
               {"D", D}};
      attn::CudaMatmulPrecisionScope scope(parse_precision(o.attn_precision));
      ok &= guarded(row, [&](json& r) {
        ATTN_CHECK(H * D == o.width, "D={} does not divide width {}", D, o.width);
        const auto shaped = [&](int i) { return base[i].slice0(0, n * H * D).view({n, H, D}); };
        std::vector<int32_t> cu(B + 1);
        for (int64_t b = 0; b <= B; ++b) cu[b] = static_cast<int32_t>(b * T);
        const Tensor cu_t = Tensor::from_vector<int32_t>({B + 1}, cu);
        attn::CoreAttentionOptions opt;
        opt.mask.kind = attn::MaskKind::kCausal;
        const Tensor go = shaped(3);
        const double fl = 2.0 * 2.0 * B * H * static_cast<double>(T) * T * D / 2.0;

        attn::bench::TimeSummary fwd;
        {
          attn::NoGrad no_grad;
          const Tensor q = shaped(0), k = shaped(1), v = shaped(2);
          fwd = attn::bench::summarize(
              time_calls([&] { (void)attn::core_attention(q, k, v, cu_t, cu_t, Tensor(), opt); },
                         o.warmup, o.iters));
        }
        Tensor q = shaped(0), k = shaped(1), v = shaped(2);
        q.set_requires_grad();
        k.set_requires_grad();
        v.set_requires_grad();
        // Gradients accumulate across iterations, as in the peer (it never zeroes them).
        const auto both = attn::bench::summarize(time_calls(
            [&] {
              const Tensor out = attn::core_attention(q, k, v, cu_t, cu_t, Tensor(), opt).out;
              attn::backward(attn::sum(attn::mul(out, go)));
            },
            o.warmup, o.iters));
        Tensor x = shaped(0);
        x.set_requires_grad();
        const auto glue = attn::bench::summarize(
            time_calls([&] { attn::backward(attn::sum(attn::mul(x, go))); }, o.warmup, o.iters));

        r["fwd_ms"] = fwd.median * 1e3;
        r["fwd_ms_best"] = fwd.min * 1e3;
        r["fwdbwd_ms"] = both.median * 1e3;
        r["fwdbwd_ms_best"] = both.min * 1e3;
        r["glue_ms"] = glue.median * 1e3;
        r["fwd_tflops"] = fl / fwd.median / 1e12;
        r["fwdbwd_tflops"] = 3.5 * fl / both.median / 1e12;
        r["fwdbwd_tflops_best"] = 3.5 * fl / both.min / 1e12;
        const double net = both.median - glue.median;
        r["fwdbwd_tflops_excl_glue"] = net > 0 ? json(3.5 * fl / net / 1e12) : json(nullptr);
      });
    }
  }
  return ok;
}

// GPT-2 124M training step (the peer's gpt rows): zero grads, forward + loss, backward, fused
// AdamW (one kernel over the flat buffers), on parameters in a CUDA ParamStore.
bool bench_gpt(const Options& o) {
  const attn::bench::GptBenchShape s{o.gpt_vocab, 768, 12, 12, o.gpt_seq, o.gpt_batch};
  json row{{"kind", "gpt"},
           {"model", "gpt2-124M"},
           {"compile", false},
           {"B", s.batch},
           {"T", s.seq},
           {"vocab", s.vocab},
           {"matmul_precision", o.precision},
           {"attention_dtype", o.precision == "bf16" ? "bf16" : "f32"},
           {"params_dtype", "f32"},
           {"mlp", "gelu-tanh"},
           {"optimizer", "adamw-fused"}};
  return guarded(row, [&](json& r) {
    attn::CudaMatmulPrecisionScope scope(parse_precision(o.precision));
    attn::ParamStore store(DType::kF32, Device::cuda());
    attn::Gpt model(store, attn::bench::peer_gpt_config(s, attn::MlpType::kGeluTanh));
    store.finalize();
    store.initialize(o.seed);
    attn::AdamW opt(store, attn::bench::peer_adamw_options(6e-4));
    std::vector<attn::GptInput> data;
    for (int i = 0; i < o.gpt_warmup + o.gpt_steps; ++i)
      data.push_back(attn::bench::random_gpt_batch(s, o.seed + 1, i, Device::cuda()));
    attn::GptForward f;
    f.training = true;
    const auto step = [&](int i) {
      store.zero_grad();
      Tensor loss = model.loss(data[i], f);
      attn::backward(loss);
      opt.step();
      return loss;
    };
    std::vector<double> losses, times;
    for (int i = 0; i < o.gpt_warmup; ++i) losses.push_back(step(i).item());
    attn::cuda::synchronize();
    attn::reset_peak_stats(Device::cuda());
    for (int i = o.gpt_warmup; i < o.gpt_warmup + o.gpt_steps; ++i) {
      attn::cuda::synchronize();
      const double t0 = now_s();
      const Tensor loss = step(i);
      attn::cuda::synchronize();
      times.push_back(now_s() - t0);
      losses.push_back(loss.item());  // after the clock stopped: item() synchronises
    }
    const auto ts = attn::bench::summarize(times);
    const attn::AllocatorStats mem = attn::allocator_stats(Device::cuda());
    const double tokens = static_cast<double>(s.batch * s.seq);
    const double n = static_cast<double>(store.num_elements());
    const double flops = 6 * n * tokens + 12.0 * s.layers * s.batch * static_cast<double>(s.seq) *
                                              s.seq * s.d_model / 2;
    r["params"] = store.num_elements();
    r["step_ms"] = ts.median * 1e3;
    r["step_ms_best"] = ts.min * 1e3;
    r["tokens_per_s"] = tokens / ts.median;
    r["tflops"] = flops / ts.median / 1e12;
    r["peak_mem_mib"] = static_cast<double>(mem.peak_in_use) / kMiB;
    r["cached_mib"] = static_cast<double>(mem.bytes_in_use + mem.bytes_cached) / kMiB;
    r["loss_first"] = losses.front();
    r["loss_last"] = losses.back();
    for (double l : losses)
      ATTN_CHECK(std::isfinite(l), "non-finite loss {} during the GPT steps", l);
  });
}

// Empty when a GPU can be used, else why not.
std::string why_no_device(int device) {
  if (!attn::cuda::built_with_cuda()) return "this build has no CUDA backend (nvcc not found)";
  const int n = attn::cuda::device_count();
  if (n == 0) return "no GPU or no driver visible (cuda device_count() = 0)";
  if (device >= n)
    return "--device " + std::to_string(device) + " but " + std::to_string(n) +
           " device(s) visible";
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool check = false;
  CLI::App app{
      "attnlab B3 GPU benchmark: gemm, attention and GPT-2 124M rows of "
      "torch_gpu_anchors.py, one JSON line each"};
  app.add_option("--what", o.what, "measurements, in order: gemm attn gpt")
      ->check(CLI::IsMember({"gemm", "attn", "gpt"}));
  app.add_option("--warmup", o.warmup, "untimed calls (gemm, attn)")->check(CLI::NonNegativeNumber);
  app.add_option("--iters", o.iters, "timed calls (gemm, attn)")->check(CLI::PositiveNumber);
  app.add_option("--seed", o.seed, "Philox seed of all inputs and weights");
  app.add_option("--device", o.device, "GPU index")->check(CLI::NonNegativeNumber);
  app.add_option("--gemm-n", o.gemm_n, "gemm size n")->check(CLI::PositiveNumber);
  app.add_option("--D", o.Ds, "attention head dims")->check(CLI::PositiveNumber);
  app.add_option("--T", o.Ts, "attention document lengths")->check(CLI::PositiveNumber);
  app.add_option("--width", o.width, "attention heads x head dim")->check(CLI::PositiveNumber);
  app.add_option("--tokens", o.tokens, "attention tokens per batch (B = max(1, tokens / T))")
      ->check(CLI::PositiveNumber);
  app.add_option("--gpt-batch", o.gpt_batch, "GPT batch")->check(CLI::PositiveNumber);
  app.add_option("--gpt-seq", o.gpt_seq, "GPT sequence length")->check(CLI::PositiveNumber);
  app.add_option("--gpt-vocab", o.gpt_vocab,
                 "GPT vocabulary (default: the peer's 50304, GPT-2's 50257 padded)")
      ->check(CLI::PositiveNumber);
  app.add_option("--gpt-warmup", o.gpt_warmup, "untimed GPT steps")->check(CLI::PositiveNumber);
  app.add_option("--gpt-steps", o.gpt_steps, "timed GPT steps")->check(CLI::PositiveNumber);
  app.add_option("--attn-precision", o.attn_precision,
                 "attention rows: bf16 (tensor-core forward) or f32")
      ->check(CLI::IsMember({"bf16", "f32"}));
  app.add_option("--matmul-precision", o.precision, "GPT matmul precision")
      ->check(CLI::IsMember({"bf16", "tf32", "f32"}));
  app.add_flag("--check", check, "only check for a usable GPU (exit 0) or say why not (exit 2)");
  CLI11_PARSE(app, argc, argv);

  try {
    const std::string why = why_no_device(o.device);
    if (!why.empty()) {
      std::fprintf(stderr, "attnlab_bench_gpu: no CUDA device: %s\n", why.c_str());
      return 2;
    }
    attn::cuda::set_device(o.device);
    emit(json{{"kind", "info"},
              {"bench", "attnlab_bench_gpu"},
              {"device", "cuda:" + std::to_string(o.device)},
              {"device_count", attn::cuda::device_count()},
              {"timing", "host clock between cuda::synchronize() calls"}});
    if (check) return 0;
    bool ok = true;
    for (const std::string& w : o.what) {
      if (w == "gemm") ok &= bench_gemm(o);
      if (w == "attn") ok &= bench_attn(o);
      if (w == "gpt") ok &= bench_gpt(o);
    }
    return ok ? 0 : 1;
  } catch (const attn::Error& e) {
    std::fprintf(stderr, "attnlab_bench_gpu: %s\n", e.what());
    return 1;
  }
}
