// Attention diagnostics of SPEC-attention section 10, collected during one forward from the core
// op's fused per-row statistics (never a T x T buffer), and the dense maps `attnlab attnmap` draws.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "framework/core/tensor.h"

namespace attn {

// Keys (metrics.jsonl and TensorBoard): "attn/<stat>" aggregates over layers and heads,
// "attn/<stat>/l<L>" per layer, "attn/<stat>/l<L>h<H>" per layer and head.
class AttentionDiagnostics {
 public:
  // focus_only: only the response focus is wanted (a pass over test examples); layers then skip
  // the map statistics and values() reports the focus alone.
  explicit AttentionDiagnostics(double sink_threshold = 0.3, bool focus_only = false)
      : sink_threshold_(sink_threshold), focus_only_(focus_only) {}
  bool focus_only() const { return focus_only_; }

  // Per-row statistics [tokens, heads] of one layer's attention weights. Rows at document
  // position 0 are skipped (their single visible key makes every statistic trivial).
  // first_token_mass: weight on the document's first key; entropy / entropy_normalized: of the
  // softmax map (normalised by log of the visible keys).
  void record_maps(int layer, const Tensor& positions, const Tensor& first_token_mass,
                   const Tensor& entropy, const Tensor& entropy_normalized);
  // Query rows ([tokens] i32, 1 = in) the dormant-head statistic of the following record_maps
  // calls is taken on, e.g. the non-trigger tokens of Bigram-Backcopy, where a head that only
  // serves the copy has nothing to attend to.
  void set_query_domain(const Tensor& domain);
  // The residual stream x [tokens, width] after block `layer`: max |x|, and the residual-state
  // peak, the mean norm of x at document position 0 over the mean norm at all positions.
  void record_residual(int layer, const Tensor& positions, const Tensor& x);
  // The value states v [tokens, kv_heads, d] of one layer: per key/value head, the value-state
  // drain, the mean norm of v at document position 0 over the mean norm at all positions.
  void record_value_states(int layer, const Tensor& positions, const Tensor& v);
  // A variant's own value, e.g. ("gate_mean", 0, 0.41) -> "attn/gate_mean/l0".
  void record_layer(const std::string& stat, int layer, double value);
  // Per-head values, e.g. MoH head usage -> "attn/moh_usage/l<L>h<H>".
  void record_heads(const std::string& stat, int layer, const std::vector<double>& per_head);

  // Sums over one layer's response queries and heads (response_focus.h): attention on position 0,
  // on the other context tokens, and the number of (query, head) pairs. Added up over calls, so
  // one object can average a whole evaluation pass.
  void record_response_focus(int layer, double sink_mass, double context_mass, double pairs);

  // Every recorded key with its value, plus the aggregates: attn/first_token_mass, attn/entropy,
  // attn/entropy_norm (means over layers and heads), attn/sink_head_ratio (share of heads whose
  // first-token mass exceeds the threshold), attn/max_activation and attn/residual_peak (max
  // over layers), attn/value_drain (mean over layers and heads), and the mean over layers of
  // every per-layer variant statistic; attn/sink_mass and attn/context_engagement (per layer,
  // and their means over layers) when SFT rows were seen; with a query domain,
  // attn/domain_first_token_mass (per head, layer, mean) and attn/dormant_share (share of heads
  // whose first-token mass on the domain exceeds the threshold).
  std::vector<std::pair<std::string, double>> values() const;

 private:
  double sink_threshold_;
  bool focus_only_;
  struct Focus {
    double sink = 0, context = 0, pairs = 0;
  };
  std::map<int, Focus> focus_;  // layer -> sums
  std::map<std::string, double> values_;
  // Per (layer, head) first-token mass, entropy and normalised entropy.
  std::map<std::pair<int, int>, std::vector<double>> heads_;
  std::vector<int32_t> domain_;
  std::map<std::pair<int, int>, double> domain_mass_;  // (layer, head) -> first-token mass
  std::map<std::pair<int, int>, double> value_drain_;  // (layer, kv head)
  std::map<int, double> max_activation_, residual_peak_;
  std::map<std::string, std::vector<double>> per_layer_;  // stat -> values over layers
};

// Dense attention weights of one layer for `attnlab attnmap`: a batch holding one document of
// `tokens` tokens. The layer whose index matches fills `weights` [heads, tokens, tokens].
struct AttentionMapRequest {
  int layer = 0;
  int64_t heads = 0, tokens = 0;
  std::vector<double> weights;
  std::string description;  // what the weights are, e.g. "softmax probabilities"
};

// Softmax probabilities [heads, T, T] of q [T, heads, d], k [T, kv_heads, d] for one causal
// document (scale 1/sqrt(d), optional sink logits [heads] as an extra zero-value column, optional
// sliding window as in AttentionMask).
std::vector<double> dense_causal_probabilities(const Tensor& q, const Tensor& k,
                                               const Tensor& sink = {}, int64_t window = 0);

}  // namespace attn
