// AFFINE_SCALED: attention weights alpha * softmax(S) + beta on the visible keys, with a per-query,
// per-head alpha and beta = (alpha_ma - alpha) / N_i from a moving average of alpha (a buffer).
// SPEC-attention section 4. Optionally followed by the sigmoid output gate (affine.gate).
//
// Parameters: <name>.alpha.weight [heads, width] (z = x Walpha^T, no bias), the q/k/v and output
// projections of ProjectedAttention, <name>.gate.weight when gated. Buffers: <name>.alpha_ma
// [heads], <name>.alpha_ma_updates [1] (number of training forwards folded into alpha_ma).
#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

#include "framework/core/error.h"
#include "layers/attention/kernels/affine_combine.h"
#include "layers/attention/ops/affine_combine.h"
#include "layers/attention/output_gate.h"
#include "layers/attention/projected_attention.h"

namespace attn {

namespace {

class AffineScaledAttention final : public ProjectedAttention {
 public:
  AffineScaledAttention(ParamStore& store, const std::string& name, const AttentionSpec& spec)
      : ProjectedAttention(store, name, spec),
        alpha_proj_(store, name + ".alpha", spec.width, spec.heads, false, spec.init_std),
        alpha_ma_(store.declare_buffer(name + ".alpha_ma", {spec.heads}, ParamInit::zeros())),
        updates_(store.declare_buffer(name + ".alpha_ma_updates", {1}, ParamInit::zeros())) {
    if (spec.options.window() > 0)
      throw Error(ErrorKind::kConfig, "attention.window",
                  "AFFINE_SCALED attention does not support a sliding window (beta spreads over "
                  "all visible keys of the document)");
    if (spec.options.affine().gate()) gate_.emplace(store, name, spec);
  }

 protected:
  Tensor combine(const Tensor& x, const Heads& h, AttentionContext& ctx) override {
    // beta is spread over the causal prefix (a running mean of V): other masks are not built.
    if (ctx.seq.mask.kind != MaskKind::kCausal)
      throw Error(ErrorKind::kConfig, "attention.kind",
                  "AFFINE_SCALED supports causal batches only (this batch has another mask)");
    const auto& opt = spec_.options.affine();
    const Tensor z = alpha_proj_(x);
    // The batch's alpha on the host ([tokens, heads]): the moving average needs its head means
    // before the combination runs, the diagnostics and maps after.
    alpha_ = z.to_vector<double>();
    const bool sigmoid = opt.clip() == attnlab::config::AffineScaled::SIGMOID;
    for (double& a : alpha_) a = affine_clip(sigmoid, a);
    // The moving average is a constant of the forward; until a training forward has set it (also
    // when evaluating an untrained model) the batch mean stands in for it.
    const bool unset = updates_.item() == 0.0;
    used_ma_ = unset ? head_means(alpha_) : alpha_ma_.to_vector<double>();
    const Tensor ma =
        Tensor::from_vector<double>({spec_.heads}, used_ma_).to(z.dtype()).to(z.device());
    Tensor y = affine_combine(h.core.out, h.v, z, ma, ctx.seq.cu_seqlens, sigmoid).y;
    if (ctx.training) update_moving_average(head_means(alpha_), unset, opt.ma_momentum());
    return gate_ ? (*gate_)(x, y, ctx) : y;
  }

  void diagnose(const Heads& h, AttentionContext& ctx) override {
    // Effective weight on the first key: alpha P_i0 + beta_i, beta_i = (alpha_ma - alpha) / N_i.
    // Weights can be negative; the entropy reported is that of the softmax part.
    const int64_t n = h.q.size(0), heads = spec_.heads;
    const std::vector<int32_t> pos = ctx.seq.positions.to_vector<int32_t>();
    std::vector<double> ftm = h.core.stats.first_token_mass.to_vector<double>();
    double alpha_sum = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t hh = 0; hh < heads; ++hh) {
        const double a = alpha_[i * heads + hh];
        ftm[i * heads + hh] = a * ftm[i * heads + hh] + (used_ma_[hh] - a) / (pos[i] + 1.0);
        alpha_sum += a;
      }
    ctx.diagnostics->record_maps(
        spec_.layer, ctx.seq.positions,
        Tensor::from_vector<double>(h.core.stats.first_token_mass.shape(), ftm),
        h.core.stats.entropy, h.core.stats.entropy_normalized);
    ctx.diagnostics->record_layer("alpha_mean", spec_.layer,
                                  alpha_sum / static_cast<double>(n * heads));
    // Total weight of a row: alpha * 1 + N_i * beta_i = alpha_ma, the mean over heads.
    double ma_sum = 0;
    for (double m : used_ma_) ma_sum += m;
    ctx.diagnostics->record_layer("row_weight_sum", spec_.layer,
                                  ma_sum / static_cast<double>(heads));
  }

  void fill_map(const Heads& h, AttentionContext& ctx) override {
    ProjectedAttention::fill_map(h, ctx);
    const int64_t t = ctx.map->tokens, heads = spec_.heads;
    for (int64_t hh = 0; hh < heads; ++hh)
      for (int64_t i = 0; i < t; ++i) {
        const double a = alpha_[i * heads + hh], b = (used_ma_[hh] - a) / (i + 1.0);
        for (int64_t j = 0; j <= i; ++j) {
          double& w = ctx.map->weights[(hh * t + i) * t + j];
          w = a * w + b;
        }
      }
    ctx.map->description = "affine weights alpha softmax + beta (may be negative)";
  }

 private:
  std::vector<double> head_means(const std::vector<double>& alpha) const {
    const int64_t heads = spec_.heads, n = static_cast<int64_t>(alpha.size()) / heads;
    std::vector<double> m(static_cast<size_t>(heads), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t h = 0; h < heads; ++h) m[h] += alpha[i * heads + h];
    for (double& v : m) v /= static_cast<double>(std::max<int64_t>(n, 1));
    return m;
  }

  void update_moving_average(const std::vector<double>& batch_mean, bool first, double momentum) {
    std::vector<double> ma = alpha_ma_.to_vector<double>();
    for (size_t h = 0; h < ma.size(); ++h)
      ma[h] = first ? batch_mean[h] : momentum * ma[h] + (1.0 - momentum) * batch_mean[h];
    alpha_ma_.copy_from(Tensor::from_vector<double>(alpha_ma_.shape(), ma).to(alpha_ma_.dtype()));
    updates_.fill_(updates_.item() + 1.0);
  }

  Linear alpha_proj_;
  Tensor alpha_ma_, updates_;
  std::optional<OutputGate> gate_;
  std::vector<double> alpha_, used_ma_;  // of the last forward, for diagnostics and maps
};

}  // namespace

void register_attention_affine_scaled() {
  register_attention(
      attnlab::config::Attention::AFFINE_SCALED,
      [](ParamStore& store, const std::string& name, const AttentionSpec& spec) {
        return std::unique_ptr<AttentionLayer>(new AffineScaledAttention(store, name, spec));
      },
      [](const attnlab::config::Recipe& r, config::RuleCheck& check) {
        check.require(r.attention().window() == 0, {"attention.window", "attention.kind"},
                      "AFFINE_SCALED spreads beta over every visible key of the document: a "
                      "sliding window is not supported");
        // AEM is defined on the softmax part (its entropy); ADL's thresholds and cosines assume
        // a probability map, which alpha softmax + beta (possibly negative) is not.
        check.require(r.losses().adl().weight() == 0, {"losses.adl.weight", "attention.kind"},
                      "AFFINE_SCALED weights alpha softmax + beta are not a probability map: "
                      "ADL is not defined for them");
      });
}

}  // namespace attn
