#include "framework/config/model_size.h"

namespace attn::config {

namespace cfg = attnlab::config;

double estimated_parameters(const cfg::Model& m) {
  const double w = m.width(), v = m.vocab_size(), layers = m.layers();
  const double kv = m.kv_heads() > 0 ? m.kv_heads() : m.heads();
  const double hd = w / m.heads(), hidden = m.mlp_ratio() * w;
  const double mlp_mats = m.mlp() == cfg::Model::SWIGLU ? 3 : 2;
  const double per_layer =
      w * (m.heads() + 2 * kv) * hd + m.heads() * hd * w + mlp_mats * w * hidden + 4 * w + hidden;
  return v * w * (m.tied_head() ? 1 : 2) +
         (m.positional() == cfg::Model::LEARNED ? m.seq_len() * w : 0) + layers * per_layer + 2 * w;
}

StepMemory estimated_step_memory(const cfg::Model& m, double tokens) {
  const double w = m.width(), v = m.vocab_size(), layers = m.layers();
  const double kv = m.kv_heads() > 0 ? m.kv_heads() : m.heads();
  const double hd = w / m.heads(), hidden = m.mlp_ratio() * w;
  // Floats kept per token and block: norms, residuals, Q, attention output and projection
  // (8 w), K and V (2 kv hd), the MLP's hidden states before and after the activation and a
  // gate (3 hidden).
  const double per_block = 8 * w + 2 * kv * hd + 3 * hidden;
  StepMemory s;
  s.weights = 16 * estimated_parameters(m);
  s.activations = 4 * tokens * (layers * per_block + 2 * v + 4 * w);
  return s;
}

}  // namespace attn::config
