#include "parallel/cad/sim/costs.h"

#include <algorithm>

#include "framework/core/error.h"

namespace attn::cad::sim {

double ModelShape::params() const {
  const double per_layer = static_cast<double>(width) * (width + 2 * kv_width()) +
                           static_cast<double>(width) * width +
                           static_cast<double>(mlp_matrices) * width * ffn + 2.0 * width;
  return layers * per_layer + 2.0 * static_cast<double>(vocab) * width;
}

const std::vector<ModelShape>& model_presets() {
  static const std::vector<ModelShape> presets{
      {"llama-8b", 32, 4096, 32, 8, 14336, 128256, 3},
      {"llama-34b", 48, 8192, 64, 8, 22016, 32000, 3},
  };
  return presets;
}

std::optional<ModelShape> find_model_preset(const std::string& name) {
  for (const ModelShape& m : model_presets())
    if (m.name == name) return m;
  return std::nullopt;
}

Hardware h200() {
  Hardware h;
  h.name = "h200";
  h.peak_flops = 989e12;
  // Large-GEMM and FlashAttention-3 fwd+bwd utilisation reported for Hopper, rounded down.
  h.matmul_efficiency = 0.6;
  h.attention_efficiency = 0.45;
  h.tile = 128;
  h.attention_floor_s = 30e-6;  // DistCA's profile: ~0.03 ms below 256 tokens
  h.gpus_per_node = 8;
  h.intra_alpha_s = 5e-6;
  h.intra_bytes_per_s = 450e9;
  h.inter_alpha_s = 15e-6;
  h.inter_bytes_per_s = 50e9;
  h.memory_bytes = 141e9;
  return h;
}

Costs::Costs(ModelShape model, Hardware hw, int tp, bool recompute)
    : m_(std::move(model)), hw_(std::move(hw)), tp_(tp), recompute_(recompute) {
  if (m_.layers < 1 || m_.width < 1 || m_.heads < 1 || m_.kv_heads < 1 || m_.width % m_.heads ||
      m_.heads % m_.kv_heads)
    ATTN_FAIL(kInput, "cad-sim: model {} has an inconsistent shape", m_.name);
  if (tp_ < 1 || m_.heads % tp_)
    ATTN_FAIL(kInput, "cad-sim: tensor parallelism {} must divide the {} heads of {}", tp_,
              m_.heads, m_.name);
  if (!(hw_.peak_flops > 0) || !(hw_.matmul_efficiency > 0) || hw_.tile < 1)
    ATTN_FAIL(kInput, "cad-sim: hardware {} needs positive FLOP/s, efficiency and tile", hw_.name);
}

double Costs::pre_s(int64_t tokens, Pass pass) const {
  return linear_s(tokens, m_.pre_flops(), pass);
}

double Costs::post_s(int64_t tokens, Pass pass) const {
  return linear_s(tokens, m_.post_flops(), pass);
}

double Costs::linear_s(int64_t tokens, double flops_per_token, Pass pass) const {
  // Backward: twice the forward's matrix products, plus the forward again when recomputing.
  const double passes = pass == Pass::kForward ? 1 : (recompute_ ? 3 : 2);
  return static_cast<double>(tokens) * flops_per_token * passes /
         (tp_ * hw_.peak_flops * hw_.matmul_efficiency);
}

double Costs::task_s(int64_t q_begin, int64_t q_end, Pass pass) const {
  if (q_end <= q_begin) return 0;
  if (hw_.calibrated) {
    const CalibratedAttention& c = *hw_.calibrated;
    const double scale = static_cast<double>(m_.width) / tp_ / static_cast<double>(c.width);
    const double ns = scale * (c.per_pair_ns * static_cast<double>(causal_pairs(q_begin, q_end)) +
                               c.per_row_ns * static_cast<double>(q_end - q_begin)) +
                      c.per_task_ns;
    // Backward ~2.5x forward (FlashAttention's count): split a fwd+bwd measurement 1 : 2.5.
    const double fwd = c.forward_only ? ns : ns / 3.5;
    return 1e-9 * (pass == Pass::kForward ? fwd : 2.5 * fwd);
  }
  // Whole tiles: the query slice is the last q_len rows of a q_end-key prefix (bottom-right
  // causal); its j-th query tile from the end sees nk - j key tiles. This is the small-slice
  // cliff: a 1-row slice costs a full tile row.
  const int64_t t = hw_.tile;
  const int64_t nq = (q_end - q_begin + t - 1) / t, nk = (q_end + t - 1) / t;
  const double tiles = static_cast<double>(nq) * nk - 0.5 * static_cast<double>(nq) * (nq - 1);
  const double flops =
      tiles * static_cast<double>(t * t) * m_.pair_flops() * (pass == Pass::kBackward ? 2.5 : 1);
  return flops / (tp_ * hw_.peak_flops * hw_.attention_efficiency);
}

double Costs::server_s(const std::vector<Task>& tasks, Pass pass) const {
  if (tasks.empty()) return 0;
  double s = 0;
  for (const Task& k : tasks) s += task_s(k.q_begin, k.q_end, pass);
  return std::max(s, hw_.attention_floor_s);
}

ByteCosts Costs::bytes() const {
  const int64_t b = hw_.bytes_per_value;
  return {m_.width * b, 2 * m_.kv_width() * b, m_.width * b};
}

double Costs::activation_bytes_per_token() const {
  // Saved per token and layer: the norms' and projections' inputs (about 5 x width), K and V,
  // and the MLP's hidden activations; recomputing, the layer input, Q, K, V and O.
  const double values = recompute_
                            ? 3.0 * m_.width + 2.0 * m_.kv_width()
                            : 5.0 * m_.width + 2.0 * m_.kv_width() + m_.mlp_matrices * m_.ffn;
  return m_.layers * values * hw_.bytes_per_value / tp_;
}

double Costs::state_bytes() const {
  return m_.params() * 16.0 / tp_;
}

}  // namespace attn::cad::sim
