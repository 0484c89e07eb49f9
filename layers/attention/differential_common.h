// What DIFFERENTIAL and GROUPED_DIFFERENTIAL attention share (SPEC-attention section 5): the
// learned scalar lambda, the per-head RMSNorm of O1 - lambda O2, the QK-norm/RoPE of the query
// and key maps, and the diagnostics and dense maps of the combined weights A1 - lambda A2.
#pragma once

#include <string>

#include "framework/config/recipe_rules.h"
#include "layers/attention/attention_layer.h"

namespace attn {

// The recipe rule of both differential kinds: their weights A1 - lambda A2 are not one
// probability map per head, so attention losses (AEM, ADL) are refused when the recipe is read.
void refuse_attention_losses_rule(const attnlab::config::Recipe& recipe, config::RuleCheck& check,
                                  const std::string& kind);

// lambda_init(l) = 0.8 - 0.6 exp(-0.3 l), l the 0-based layer.
double differential_lambda_init(int layer);

// QK-RMSNorm (attention.qk_norm) and RoPE (spec.rope) of query/key maps, as ProjectedAttention
// applies them: one gain for all query maps, one for all key maps.
class QueryKeyMaps {
 public:
  // Parameters (attention.qk_norm only): <name>.q_norm.weight, <name>.k_norm.weight [head_dim],
  // ones, no weight decay.
  QueryKeyMaps(ParamStore& store, const std::string& name, const AttentionSpec& spec);
  Tensor queries(const Tensor& q, const PackedSequences& seq) const;  // [n, maps, d]
  Tensor keys(const Tensor& k, const PackedSequences& seq) const;     // [n, maps, d]

 private:
  Tensor prepare(const Tensor& t, const Tensor& gain, const PackedSequences& seq) const;
  bool qk_norm_, rope_;
  double eps_;
  RopeOptions rope_options_;
  Tensor q_norm_, k_norm_;
};

class DifferentialMix {
 public:
  // Parameters: <name>.lambda_q1, <name>.lambda_k1, <name>.lambda_q2, <name>.lambda_k2
  // [head_dim] normal(differential.lambda_init_std), no weight decay; <name>.subln.weight
  // [norm_width] ones, no weight decay (the RMSNorm gain shared by all heads).
  DifferentialMix(ParamStore& store, const std::string& name, const AttentionSpec& spec,
                  int64_t norm_width);

  double lambda_init() const { return lambda_init_; }
  // lambda = exp(lq1 . lk1) - exp(lq2 . lk2) + lambda_init, a [1] tensor.
  Tensor lambda() const;
  // o1, o2 [n, heads, dv] (the noise output already laid out per signal head), lambda [1] ->
  // (1 - lambda_init) * RMSNorm(o1 - lambda o2) over dv, [n, heads, dv].
  Tensor operator()(const Tensor& o1, const Tensor& o2, const Tensor& lambda) const;

  // SPEC-10 statistics: first-token mass of A1 - lambda A2 (signal head h uses noise map
  // h / group), entropy of A1, and attn/lambda/l<layer>.
  void diagnose(const AttentionStats& signal, const AttentionStats& noise, int64_t group,
                double lambda, AttentionContext& ctx) const;
  // Dense A1 - lambda A2 [signal heads, T, T] into ctx.map: q1 [T, heads, d], k1 [T, kv, d],
  // q2 [T, heads / group, d], k2 [T, kv2, d].
  void fill_map(const Tensor& q1, const Tensor& k1, const Tensor& q2, const Tensor& k2,
                int64_t group, double lambda, AttentionContext& ctx) const;

 private:
  int layer_;
  int64_t window_;
  double lambda_init_, eps_;
  Tensor lq1_, lk1_, lq2_, lk2_, subln_;
};

}  // namespace attn
