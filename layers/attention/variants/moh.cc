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
#include <algorithm>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/dispatch.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/shape.h"
#include "framework/ops/softmax.h"
#include "framework/ops/transfer.h"
#include "layers/attention/projected_attention.h"
#include "layers/linear.h"

namespace attn {

namespace {

// Top-k mask of each row of p [rows, cols]: mask[r * cols + c] = 1 for the k largest entries
// (ties: the lower index wins).
std::vector<uint8_t> topk_mask(const std::vector<double>& p, int64_t rows, int64_t cols,
                               int64_t k) {
  std::vector<uint8_t> mask(p.size(), 0);
  std::vector<int64_t> idx(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = p.data() + r * cols;
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return row[a] > row[b]; });
    for (int64_t j = 0; j < k; ++j) mask[r * cols + idx[j]] = 1;
  }
  return mask;
}

// g = k * p * m / S, S = sum_c p_c m_c per row, m a constant mask; p [rows, cols] > 0 (softmax
// output: the top-k of a distribution over cols entries carry at least k / cols, so S > 0).
// Backward: dp_c += m_c (k / S) (dg_c - sum_e dg_e g_e / k).
Tensor topk_renormalize(const Tensor& p, const std::vector<uint8_t>& mask, int64_t k) {
  ATTN_CHECK(p.ndim() == 2 && static_cast<size_t>(p.numel()) == mask.size(),
             "topk_renormalize: p {} and a mask of {} entries", p.str(), mask.size());
  if (p.device().is_cuda()) {
    // A few numbers per token: the host computes them; transfer() carries the gradient.
    return transfer(topk_renormalize(transfer(p, Device::cpu()), mask, k), p.device());
  }
  const int64_t rows = p.size(0), cols = p.size(1);
  Tensor g = Tensor::empty(p.shape(), p.dtype(), p.device());
  std::vector<double> inv_s(static_cast<size_t>(rows));  // 1 / S per row
  detail::dispatch_float(p, "topk_renormalize", [&](auto tag) {
    using T = decltype(tag);
    const T* pp = p.data<T>();
    T* gp = g.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t c = 0; c < cols; ++c)
        if (mask[r * cols + c]) s += static_cast<double>(pp[r * cols + c]);
      inv_s[r] = 1.0 / s;
      for (int64_t c = 0; c < cols; ++c)
        gp[r * cols + c] =
            mask[r * cols + c] ? T(static_cast<double>(k) * pp[r * cols + c] * inv_s[r]) : T(0);
    }
  });
  if (!needs_grad({p})) return g;
  record("topk_renormalize", {g}, [p, g, mask, inv_s, k, rows, cols] {
    detail::dispatch_float(p, "topk_renormalize", [&](auto tag) {
      using T = decltype(tag);
      const T *dg = g.grad().data<T>(), *gp = g.data<T>();
      T* dp = p.grad_or_zeros().data<T>();
      const double kd = static_cast<double>(k);
      for (int64_t r = 0; r < rows; ++r) {
        double dot = 0;  // sum_e dg_e g_e
        for (int64_t c = 0; c < cols; ++c)
          dot += static_cast<double>(dg[r * cols + c]) * gp[r * cols + c];
        for (int64_t c = 0; c < cols; ++c)
          if (mask[r * cols + c])
            dp[r * cols + c] += T(kd * inv_s[r] * (dg[r * cols + c] - dot / kd));
      }
    });
  });
  return g;
}

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
    std::vector<uint8_t> mask;
    {
      NoGrad no_grad;
      mask = topk_mask(p.to_vector<double>(), n, routed_, k_);
    }
    // Fraction of tokens routed to each routed head (constant).
    std::vector<double> frac(static_cast<size_t>(routed_), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t e = 0; e < routed_; ++e) frac[e] += mask[i * routed_ + e];
    for (double& f : frac) f /= static_cast<double>(std::max<int64_t>(n, 1));
    usage_.assign(static_cast<size_t>(shared_), 1.0);
    usage_.insert(usage_.end(), frac.begin(), frac.end());

    Tensor w = topk_renormalize(p, mask, k_);  // [n, E]
    if (shared_ > 0) {
      const Tensor s = shared_router_ ? scale(softmax((*shared_router_)(x)), double(shared_))
                                      : Tensor::full({n, 1}, 1.0, x.dtype(), x.device());
      std::vector<Tensor> a = split(scale(softmax((*mix_)(x)), 2.0), 1, {1, 1});  // [n, 1] each
      w = concat({scale_rows(s, reshape(a[0], {n})), scale_rows(w, reshape(a[1], {n}))}, 1);
    }
    const double weight = spec_.options.moh().balance_weight();
    if (ctx.aux_losses && weight > 0) {
      const Tensor f = Tensor::from_vector<double>({routed_}, frac).to(p.dtype()).to(p.device());
      const double c = static_cast<double>(routed_ * routed_) * weight / spec_.num_layers;
      ctx.aux_losses->push_back(scale(mean(mul(mean(p, 0), f)), c));  // []
    }
    return scale_rows(h.core.out, w);  // [n, H, d] * [n, H]
  }

  void diagnose(const Heads& h, AttentionContext& ctx) override {
    ProjectedAttention::diagnose(h, ctx);
    ctx.diagnostics->record_heads("moh_usage", spec_.layer, usage_);
  }

 private:
  const int64_t shared_, routed_, k_;
  Linear router_;
  std::optional<Linear> shared_router_, mix_;
  std::vector<double> usage_;  // per head, of the last forward: fraction of tokens using it
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
