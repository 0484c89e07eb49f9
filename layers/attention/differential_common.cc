#include "layers/attention/differential_common.h"

#include <cmath>

#include <fmt/format.h>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/norm.h"
#include "framework/ops/reduce.h"
#include "framework/ops/shape.h"
#include "framework/ops/unary.h"

namespace attn {

void refuse_attention_losses_rule(const attnlab::config::Recipe& r, config::RuleCheck& check,
                                  const std::string& kind) {
  const std::string why = fmt::format(
      "{} attention has no single softmax map per head to regularise (weights A1 - lambda A2)",
      kind);
  check.require(r.losses().aem().weight() == 0, {"losses.aem.weight", "attention.kind"}, why);
  check.require(r.losses().adl().weight() == 0, {"losses.adl.weight", "attention.kind"}, why);
}

double differential_lambda_init(int layer) {
  return 0.8 - 0.6 * std::exp(-0.3 * static_cast<double>(layer));
}

QueryKeyMaps::QueryKeyMaps(ParamStore& store, const std::string& name, const AttentionSpec& s)
    : qk_norm_(s.options.qk_norm()),
      rope_(s.rope),
      eps_(s.qk_norm_eps),
      rope_options_(s.rope_options) {
  if (qk_norm_) {
    q_norm_ = store.declare(name + ".q_norm.weight", {s.head_dim}, ParamInit::ones(), false);
    k_norm_ = store.declare(name + ".k_norm.weight", {s.head_dim}, ParamInit::ones(), false);
  }
}

Tensor QueryKeyMaps::queries(const Tensor& q, const PackedSequences& seq) const {
  return prepare(q, q_norm_, seq);
}

Tensor QueryKeyMaps::keys(const Tensor& k, const PackedSequences& seq) const {
  return prepare(k, k_norm_, seq);
}

Tensor QueryKeyMaps::prepare(const Tensor& t, const Tensor& gain,
                             const PackedSequences& seq) const {
  Tensor y = qk_norm_ ? rms_norm(t, gain, eps_) : t;
  return rope_ ? rope(y, seq.positions, rope_options_) : y;
}

DifferentialMix::DifferentialMix(ParamStore& store, const std::string& name, const AttentionSpec& s,
                                 int64_t norm_width)
    : layer_(s.layer),
      window_(s.options.window()),
      lambda_init_(differential_lambda_init(s.layer)),
      eps_(s.options.differential().norm_eps()) {
  const ParamInit init = ParamInit::normal(s.options.differential().lambda_init_std());
  lq1_ = store.declare(name + ".lambda_q1", {s.head_dim}, init, false);
  lk1_ = store.declare(name + ".lambda_k1", {s.head_dim}, init, false);
  lq2_ = store.declare(name + ".lambda_q2", {s.head_dim}, init, false);
  lk2_ = store.declare(name + ".lambda_k2", {s.head_dim}, init, false);
  subln_ = store.declare(name + ".subln.weight", {norm_width}, ParamInit::ones(), false);
}

Tensor DifferentialMix::lambda() const {
  const Tensor e1 = exp(sum(mul(lq1_, lk1_)));  // []
  const Tensor e2 = exp(sum(mul(lq2_, lk2_)));
  const Tensor init = Tensor::full(e1.shape(), lambda_init_, e1.dtype(), e1.device());
  return reshape(add(sub(e1, e2), init), {1});
}

Tensor DifferentialMix::operator()(const Tensor& o1, const Tensor& o2, const Tensor& lambda) const {
  const int64_t n = o1.size(0), heads = o1.size(1), dv = o1.size(2);
  // lambda * o2 as one row of n * heads * dv entries scaled by the single factor.
  const Tensor noise = reshape(scale_rows(reshape(o2, {1, o2.numel()}), lambda), {n, heads, dv});
  return scale(rms_norm(sub(o1, noise), subln_, eps_), 1.0 - lambda_init_);
}

void DifferentialMix::diagnose(const AttentionStats& signal, const AttentionStats& noise,
                               int64_t group, double lambda, AttentionContext& ctx) const {
  NoGrad no_grad;
  const int64_t n = signal.first_token_mass.size(0), heads = signal.first_token_mass.size(1);
  const int64_t noise_heads = noise.first_token_mass.size(1);
  std::vector<double> ftm = signal.first_token_mass.to_vector<double>();
  const std::vector<double> ftm2 = noise.first_token_mass.to_vector<double>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t h = 0; h < heads; ++h)
      ftm[i * heads + h] -= lambda * ftm2[i * noise_heads + h / group];
  ctx.diagnostics->record_maps(layer_, ctx.seq.positions,
                               Tensor::from_vector<double>({n, heads}, ftm), signal.entropy,
                               signal.entropy_normalized);
  ctx.diagnostics->record_layer("lambda", layer_, lambda);
}

void DifferentialMix::fill_map(const Tensor& q1, const Tensor& k1, const Tensor& q2,
                               const Tensor& k2, int64_t group, double lambda,
                               AttentionContext& ctx) const {
  ATTN_CHECK(ctx.seq.mask.kind == MaskKind::kCausal,
             "attention maps are drawn for causal batches only");
  NoGrad no_grad;
  const int64_t t = q1.size(0), heads = q1.size(1);
  std::vector<double> w = dense_causal_probabilities(q1, k1, {}, window_);
  const std::vector<double> a2 = dense_causal_probabilities(q2, k2, {}, window_);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t ij = 0; ij < t * t; ++ij)
      w[h * t * t + ij] -= lambda * a2[(h / group) * t * t + ij];
  ctx.map->heads = heads;
  ctx.map->tokens = t;
  ctx.map->weights = std::move(w);
  ctx.map->description = "differential weights A1 - lambda A2 (may be negative)";
}

}  // namespace attn
