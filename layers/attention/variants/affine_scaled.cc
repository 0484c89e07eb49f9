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

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/dispatch.h"
#include "framework/ops/transfer.h"
#include "layers/attention/output_gate.h"
#include "layers/attention/projected_attention.h"

namespace attn {

namespace {

using Clip = attnlab::config::AffineScaled::Clip;

double clip_value(Clip clip, double z) {
  if (clip == attnlab::config::AffineScaled::SIGMOID) return 1.0 / (1.0 + std::exp(-z));
  return std::clamp(0.1 * z + 0.5, 0.0, 1.0);
}

double clip_slope(Clip clip, double z) {
  if (clip == attnlab::config::AffineScaled::SIGMOID) {
    const double s = 1.0 / (1.0 + std::exp(-z));
    return s * (1.0 - s);
  }
  const double a = 0.1 * z + 0.5;
  return a > 0.0 && a < 1.0 ? 0.1 : 0.0;
}

// Causal running mean of the values per document: vbar[i] = mean_{j <= i in doc} v[j], over
// [n, kv_heads * dv] rows (double accumulation: the mean over thousands of keys must not drift).
template <typename T>
void causal_mean(T* vbar, const T* v, const std::vector<int32_t>& cu, int64_t cols) {
  std::vector<double> acc(static_cast<size_t>(cols));
  for (size_t b = 0; b + 1 < cu.size(); ++b) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t i = cu[b]; i < cu[b + 1]; ++i) {
      const double inv_n = 1.0 / static_cast<double>(i - cu[b] + 1);
      for (int64_t c = 0; c < cols; ++c) {
        acc[c] += static_cast<double>(v[i * cols + c]);
        vbar[i * cols + c] = static_cast<T>(acc[c] * inv_n);
      }
    }
  }
}

// dv[j] += sum_{i >= j in doc} dvbar[i] / N_i: the adjoint of causal_mean (reverse cumsum).
template <typename T>
void causal_mean_backward(T* dv, const T* dvbar, const std::vector<int32_t>& cu, int64_t cols) {
  std::vector<double> acc(static_cast<size_t>(cols));
  for (size_t b = 0; b + 1 < cu.size(); ++b) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t i = cu[b + 1] - 1; i >= cu[b]; --i) {
      const double inv_n = 1.0 / static_cast<double>(i - cu[b] + 1);
      for (int64_t c = 0; c < cols; ++c) {
        acc[c] += static_cast<double>(dvbar[i * cols + c]) * inv_n;
        dv[i * cols + c] += static_cast<T>(acc[c]);
      }
    }
  }
}

// Y = alpha O + (alpha_ma - alpha) Vbar with alpha = clip(z): the whole affine rewrite of one
// layer as one differentiable op in o [n, heads, dv], v [n, kv_heads, dv] and z [n, heads];
// alpha_ma [heads] is a constant.
Tensor affine_combine(const Tensor& o, const Tensor& v, const Tensor& z,
                      const std::vector<double>& alpha_ma, const Tensor& cu_seqlens, Clip clip) {
  if (o.device().is_cuda()) {
    // No CUDA kernel for the running mean yet: the combination runs on the host, the copies
    // carry the gradients (a few [tokens, heads, dv] copies per layer and step).
    const Device cpu = Device::cpu();
    return transfer(affine_combine(transfer(o, cpu), transfer(v, cpu), transfer(z, cpu), alpha_ma,
                                   cu_seqlens, clip),
                    o.device());
  }
  const int64_t n = o.size(0), heads = o.size(1), dv = o.size(2), kvh = v.size(1);
  ATTN_CHECK(v.size(0) == n && v.size(2) == dv && heads % kvh == 0 && z.numel() == n * heads,
             "affine_combine: o {}, v {}, z {}", o.str(), v.str(), z.str());
  const std::vector<int32_t> cu = cu_seqlens.to_vector<int32_t>();
  const std::vector<double> zv = z.to_vector<double>();
  std::vector<double> alpha(zv.size());
  for (size_t i = 0; i < zv.size(); ++i) alpha[i] = clip_value(clip, zv[i]);
  Tensor vbar = Tensor::empty(v.shape(), v.dtype(), v.device());
  Tensor y = Tensor::empty(o.shape(), o.dtype(), o.device());
  const int64_t group = heads / kvh;
  detail::dispatch_float(o, "affine_combine", [&](auto tag) {
    using T = decltype(tag);
    causal_mean<T>(vbar.data<T>(), v.data<T>(), cu, kvh * dv);
    const T *op = o.data<T>(), *vb = vbar.data<T>();
    T* yp = y.data<T>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t h = 0; h < heads; ++h) {
        const T a = T(alpha[i * heads + h]), b = T(alpha_ma[h]) - a;
        const T* vrow = vb + (i * kvh + h / group) * dv;
        for (int64_t c = 0; c < dv; ++c)
          yp[(i * heads + h) * dv + c] = a * op[(i * heads + h) * dv + c] + b * vrow[c];
      }
  });
  if (!needs_grad({o, v, z})) return y;
  record("affine_combine", {y},
         [o, v, z, y, vbar, alpha, alpha_ma, cu, clip, zv, n, heads, dv, kvh, group] {
           detail::dispatch_float(o, "affine_combine", [&](auto tag) {
             using T = decltype(tag);
             const T *dy = y.grad().data<T>(), *op = o.data<T>(), *vb = vbar.data<T>();
             Tensor dO = grad_target(o), dV = grad_target(v), dZ = grad_target(z);
             std::vector<T> dvbar(dV.defined() ? static_cast<size_t>(n * kvh * dv) : 0, T(0));
             for (int64_t i = 0; i < n; ++i)
               for (int64_t h = 0; h < heads; ++h) {
                 const int64_t r = i * heads + h;
                 const T a = T(alpha[r]), b = T(alpha_ma[h]) - a;
                 const T* dyr = dy + r * dv;
                 const T* vrow = vb + (i * kvh + h / group) * dv;
                 if (dO.defined())
                   for (int64_t c = 0; c < dv; ++c) dO.data<T>()[r * dv + c] += a * dyr[c];
                 if (dZ.defined()) {
                   double dalpha = 0;
                   for (int64_t c = 0; c < dv; ++c)
                     dalpha += static_cast<double>(dyr[c]) * (op[r * dv + c] - vrow[c]);
                   dZ.data<T>()[r] += T(dalpha * clip_slope(clip, zv[r]));
                 }
                 if (dV.defined()) {
                   T* dvb = dvbar.data() + (i * kvh + h / group) * dv;
                   for (int64_t c = 0; c < dv; ++c) dvb[c] += b * dyr[c];
                 }
               }
             if (dV.defined()) causal_mean_backward<T>(dV.data<T>(), dvbar.data(), cu, kvh * dv);
           });
         });
  return y;
}

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
    alpha_ = z.to_vector<double>();
    for (double& a : alpha_) a = clip_value(opt.clip(), a);
    // The moving average is a constant of the forward; until a training forward has set it (also
    // when evaluating an untrained model) the batch mean stands in for it.
    const bool unset = updates_.item() == 0.0;
    used_ma_ = unset ? head_means(alpha_) : alpha_ma_.to_vector<double>();
    Tensor y = affine_combine(h.core.out, h.v, z, used_ma_, ctx.seq.cu_seqlens, opt.clip());
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
      });
}

}  // namespace attn
