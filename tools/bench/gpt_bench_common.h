// Pieces shared by the CPU (attnlab_bench_gpt) and GPU (attnlab_bench_gpu) GPT training-step
// benchmarks: the peer's model and optimizer settings, random batches and timing summaries.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/core/device.h"
#include "layers/mlp.h"
#include "layers/models/gpt.h"
#include "optim/adamw.h"

namespace attn::bench {

struct GptBenchShape {
  int64_t vocab, d_model, layers, heads, seq, batch;
};

// The PyTorch peers' model: learned positions, pre-LayerNorm blocks, causal MHA, 4x MLP with
// `mlp` (the CPU peer uses exact GELU, the GPU peer the tanh approximation), final LayerNorm,
// tied head, biases, N(0, 0.02) init everywhere (no depth-scaled residual init).
GptConfig peer_gpt_config(const GptBenchShape& s, MlpType mlp);

// torch.optim.AdamW(lr, weight_decay=0.1) on every parameter, betas 0.9/0.999, eps 1e-8.
AdamWOptions peer_adamw_options(double lr);

// One batch of `batch` documents of `seq` tokens, ids uniform in [0, vocab) from Philox stream i.
// tokens, targets and positions live on `device`; cu_seqlens stays on the CPU (host metadata,
// see layers/packed_sequences.h).
GptInput random_gpt_batch(const GptBenchShape& s, uint64_t seed, uint64_t i,
                          Device device = Device::cpu());

// Matmul FLOPs of a training step by the CPU peer's formula (full T x T attention products).
double peer_matmul_flops_per_step(const GptBenchShape& s);

struct TimeSummary {
  double median = 0, min = 0, max = 0;  // seconds
};
// Median (mean of the middle two for an even count), min and max; `times` must not be empty.
TimeSummary summarize(std::vector<double> times);

}  // namespace attn::bench
