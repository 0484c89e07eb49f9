// MOH: mixture-of-head attention, SPEC-attention section 6. All H heads are computed as in
// softmax attention (GQA allowed); each token then scales each head's output by a gate before the
// output projection. The first hs = moh.shared_heads heads are shared, the other E = H - hs are
// routed, k = moh.top_k of them per token. Follows the official MoH code:
//   p = softmax(x Wr^T) [n, E]; m = top-k mask of p per token (ties: lower index; a constant);
//   g = k * p m / sum_e(p m)                                     (routed gates, [n, E])
//   s = hs * softmax(x Ws^T) [n, hs]        (hs == 1: s = 1, no Ws, as softmax of one logit)
//   [a_s, a_r] = 2 softmax(x W0^T) [n, 2]                        (only when hs > 0)
//   weight of head h = a_s s_h (h < hs), a_r g_{h - hs} (h >= hs); hs == 0: g_{h}.
// Load balance (training objective, when collected and moh.balance_weight > 0):
//   L = E^2 mean_e(mean_tokens(p_e) f_e), f_e = fraction of tokens whose top-k holds e
//   (a constant), added as balance_weight * L / num_layers.
//
// Parameters: those of ProjectedAttention (<name>.qkv, <name>.proj, <name>.q_norm / k_norm), then
//   <name>.router.weight [E, width] (Wr), <name>.shared_router.weight [hs, width] (Ws, hs > 1),
//   <name>.mix.weight [2, width] (W0, hs > 0); normal(spec.init_std), no bias.
#include <optional>

#include <fmt/format.h>

#include "framework/core/error.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/shape.h"
#include "framework/ops/softmax.h"
#include "layers/attention/ops/topk_gates.h"
#include "layers/attention/projected_attention.h"
#include "layers/linear.h"

namespace attn {

namespace {

const AttentionSpec& checked(const AttentionSpec& s) {
  const attnlab::config::Moh& m = s.options.moh();
  if (m.shared_heads() < 0 || m.shared_heads() >= s.heads)
    throw Error(ErrorKind::kConfig, "attention.moh.shared_heads",
                fmt::format("{} must be in [0, heads {}): MoH needs a routed head",
                            m.shared_heads(), s.heads));
  const int64_t routed = s.heads - m.shared_heads();
  if (m.top_k() < 1 || m.top_k() > routed)
    throw Error(ErrorKind::kConfig, "attention.moh.top_k",
                fmt::format("{} must be in [1, {}] (the routed heads: heads - shared_heads)",
                            m.top_k(), routed));
  return s;
}

class MohAttention final : public ProjectedAttention {
 public:
  MohAttention(ParamStore& store, const std::string& name, const AttentionSpec& spec)
      : ProjectedAttention(store, name, checked(spec)),
        shared_(spec.options.moh().shared_heads()),
        routed_(spec.heads - shared_),
        k_(spec.options.moh().top_k()),
        router_(store, name + ".router", spec.width, routed_, false, spec.init_std) {
    if (shared_ > 1)
      shared_router_.emplace(store, name + ".shared_router", spec.width, shared_, false,
                             spec.init_std);
    if (shared_ > 0) mix_.emplace(store, name + ".mix", spec.width, 2, false, spec.init_std);
  }

 protected:
  Tensor combine(const Tensor& x, const Heads& h, AttentionContext& ctx) override {
    const int64_t n = x.size(0);
    const Tensor p = softmax(router_(x));  // [n, E]
    TopkGates routed = topk_gates(p, k_);
    routed_fraction_ = routed.fraction;  // of tokens routed to each routed head (constant)
    Tensor w = routed.gates;             // [n, E]
    if (shared_ > 0) {
      const Tensor s = shared_router_ ? scale(softmax((*shared_router_)(x)), double(shared_))
                                      : Tensor::full({n, 1}, 1.0, x.dtype(), x.device());
      std::vector<Tensor> a = split(scale(softmax((*mix_)(x)), 2.0), 1, {1, 1});  // [n, 1] each
      w = concat({scale_rows(s, reshape(a[0], {n})), scale_rows(w, reshape(a[1], {n}))}, 1);
    }
    const double weight = spec_.options.moh().balance_weight();
    if (ctx.aux_losses && weight > 0) {
      const double c = static_cast<double>(routed_ * routed_) * weight / spec_.num_layers;
      ctx.aux_losses->push_back(scale(mean(mul(mean(p, 0), routed_fraction_)), c));  // []
    }
    return scale_rows(h.core.out, w);  // [n, H, d] * [n, H]
  }

  void diagnose(const Heads& h, AttentionContext& ctx) override {
    ProjectedAttention::diagnose(h, ctx);
    // Per head, the fraction of tokens using it: shared heads always.
    std::vector<double> usage(static_cast<size_t>(shared_), 1.0);
    for (double f : routed_fraction_.to_vector<double>()) usage.push_back(f);
    ctx.diagnostics->record_heads("moh_usage", spec_.layer, usage);
  }

 private:
  const int64_t shared_, routed_, k_;
  Linear router_;
  std::optional<Linear> shared_router_, mix_;
  Tensor routed_fraction_;  // [E], of the last forward
};

}  // namespace

void register_attention_moh() {
  register_attention(
      attnlab::config::Attention::MOH,
      [](ParamStore& store, const std::string& name, const AttentionSpec& spec) {
        return std::unique_ptr<AttentionLayer>(new MohAttention(store, name, spec));
      },
      [](const attnlab::config::Recipe& r, config::RuleCheck& check) {
        const attnlab::config::Moh& h = r.attention().moh();
        const int heads = r.model().heads();
        check.require(
            h.shared_heads() < heads, {"attention.moh.shared_heads", "model.heads"},
            fmt::format("{} leaves no routed head of model.heads {}", h.shared_heads(), heads));
        const int routed = heads - h.shared_heads();
        check.require(h.top_k() <= routed, {"attention.moh.top_k", "attention.moh.shared_heads"},
                      fmt::format("{} exceeds the {} routed heads (model.heads - shared_heads)",
                                  h.top_k(), routed));
      });
}

}  // namespace attn
