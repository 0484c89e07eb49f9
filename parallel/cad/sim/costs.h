// The CAD simulator's cost model (SPEC-cad "Simulator"): model shapes, one rank's hardware and
// what a layer's pieces cost on it. A simulated rank is a tensor-parallel group of `tp` GPUs (the
// unit that data parallelism and CAD schedule); its heads, matrices and links are split over them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "parallel/cad/calibration.h"
#include "parallel/cad/plan.h"
#include "parallel/cad/planner.h"

namespace attn::cad::sim {

struct ModelShape {
  std::string name;
  int layers = 0;
  int64_t width = 0, heads = 0, kv_heads = 0, ffn = 0, vocab = 0;
  int mlp_matrices = 3;  // 3 for a gated MLP (SwiGLU), 2 for GELU

  int64_t head_dim() const { return width / heads; }
  int64_t kv_width() const { return kv_heads * head_dim(); }
  // Forward FLOPs per token of one layer before core attention (Q, K, V projections) and after
  // it (O projection and the MLP).
  double pre_flops() const { return 2.0 * width * (width + 2 * kv_width()); }
  double post_flops() const { return 2.0 * width * width + 2.0 * mlp_matrices * width * ffn; }
  // Forward FLOPs per causal query-key pair: Q K^T and P V over every head.
  double pair_flops() const { return 4.0 * width; }
  double params() const;
};

// Llama-3-8B (32 layers, width 4096, 32 heads, 8 KV heads, SwiGLU 14336) and Llama-34B
// (CodeLlama-34B: 48 layers, 8192, 64 heads, 8 KV heads, 22016).
const std::vector<ModelShape>& model_presets();
std::optional<ModelShape> find_model_preset(const std::string& name);

struct Hardware {
  std::string name;
  double peak_flops = 0;  // per GPU (dense bf16)
  double matmul_efficiency = 0, attention_efficiency = 0;
  int64_t tile = 128;            // the attention kernel computes whole tile x tile blocks
  double attention_floor_s = 0;  // no packed attention call is faster (launch, small slices)
  int gpus_per_node = 8;
  double intra_alpha_s = 0, intra_bytes_per_s = 0;  // per GPU, inside a node (NVLink)
  double inter_alpha_s = 0, inter_bytes_per_s = 0;  // per GPU, across nodes (one NIC each)
  double memory_bytes = 0;                          // per GPU
  int64_t bytes_per_value = 2;                      // bf16 activations and wire payloads
  std::optional<CalibratedAttention> calibrated;    // replaces the tile model when set
};
// H200 SXM: 989 TFLOP/s dense bf16, 141 GB, NVLink 450 GB/s and a 400 Gb/s NIC per GPU.
Hardware h200();

enum class Pass { kForward, kBackward };

class Costs {
 public:
  // recompute: selective activation recomputation, the usual long-context setting: backward
  // re-runs each layer's linear forward (one more forward of the projections and the MLP)
  // and keeps only the layer input and Q, K, V, O (core attention is not recomputed).
  Costs(ModelShape model, Hardware hw, int tp, bool recompute = false);

  const ModelShape& model() const { return m_; }
  const Hardware& hardware() const { return hw_; }
  int tp() const { return tp_; }
  bool recompute() const { return recompute_; }

  // One layer's linear work of `tokens` tokens on one rank.
  double pre_s(int64_t tokens, Pass pass) const;
  double post_s(int64_t tokens, Pass pass) const;
  // One task's core attention (rows [q_begin, q_end) with the K/V prefix [0, q_end)), without
  // the per-call floor.
  double task_s(int64_t q_begin, int64_t q_end, Pass pass) const;
  // A server's packed call over its tasks (the floor applies once per call; 0 with no tasks).
  double server_s(const std::vector<Task>& tasks, Pass pass) const;

  // Bytes per token per layer on the wire (the whole rank: every head).
  ByteCosts bytes() const;
  // Activation memory per token, all layers, on one GPU of the rank (saved for backward).
  double activation_bytes_per_token() const;
  // Weights, gradients and AdamW state per GPU (bf16 weights and gradients, fp32 master and
  // moments; no ZeRO).
  double state_bytes() const;

 private:
  double linear_s(int64_t tokens, double flops_per_token, Pass pass) const;

  ModelShape m_;
  Hardware hw_;
  int tp_;
  bool recompute_;
};

}  // namespace attn::cad::sim
