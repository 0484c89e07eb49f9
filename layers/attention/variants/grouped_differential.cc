// GROUPED_DIFFERENTIAL: grouped differential attention (GDA), SPEC-attention section 5. With
// r = grouped_differential.group_ratio, spec.heads = H query/key maps split r : 1 into
// H1 = r H2 signal heads and H2 = H / (r + 1) noise maps, all of width d = head_dim. Signal head
// h has its own q1, k1 and value v (width d); noise map g = h / r (its own q2, k2) is shared by
// the r signal heads of its group: O_h = (A1_h - lambda A2_g) V_h, then (1 - lambda_init) *
// RMSNorm_d(O_h) and the output projection. No GQA (kv_heads == heads).
//
// Parameters (declaration order; Linear weights are [out, in] as in PyTorch, y = x W^T + b):
//   <name>.qkv.weight [3*H1*d + 2*H2*d, width], <name>.qkv.bias (spec.bias). Output columns:
//       q1 [H1][d], k1 [H1][d], v [H1][d], q2 [H2][d], k2 [H2][d].
//   <name>.q_norm.weight, <name>.k_norm.weight [d] (attention.qk_norm): RMSNorm (eps
//       spec.qk_norm_eps) of every query (q1 and q2) / key (k1 and k2) map, before RoPE.
//   <name>.lambda_q1, lambda_k1, lambda_q2, lambda_k2 [d]: normal(differential.lambda_init_std);
//       lambda = exp(lq1 . lk1) - exp(lq2 . lk2) + lambda_init, lambda_init = 0.8 - 0.6
//       exp(-0.3 layer); one scalar per layer.
//   <name>.subln.weight [d]: RMSNorm gain (eps differential.norm_eps) shared by all heads.
//   <name>.proj.weight [width, H1*d], <name>.proj.bias (spec.bias); input columns [H1][d].
// Core calls: core_call_id(layer, 0) for (q1, k1, v) with H1 heads; core_call_id(layer, 1) for
// (q2, k2, v viewed as [n, H2, r*d]): each noise map's r group values concatenated.
#include <fmt/format.h>

#include "framework/autograd/tape.h"
#include "framework/config/recipe_loader.h"
#include "framework/core/error.h"
#include "framework/ops/shape.h"
#include "layers/attention/core_options.h"
#include "layers/attention/differential_common.h"
#include "layers/linear.h"

namespace attn {

namespace {

const AttentionSpec& checked(const AttentionSpec& s) {
  const int64_t r = s.options.grouped_differential().group_ratio();
  if (r < 1 || s.heads % (r + 1) != 0)
    throw Error(ErrorKind::kConfig, "attention.grouped_differential.group_ratio",
                fmt::format("GROUPED_DIFFERENTIAL splits heads {} into {}:1 signal and noise "
                            "maps: heads must be a multiple of {}",
                            s.heads, r, r + 1));
  if (s.kv_heads != s.heads)
    throw Error(ErrorKind::kConfig, "model.kv_heads",
                fmt::format("GROUPED_DIFFERENTIAL shares noise maps itself and supports no GQA: "
                            "kv_heads must equal heads {}, got {}",
                            s.heads, s.kv_heads));
  return s;
}

class GroupedDifferentialAttention final : public AttentionLayer {
 public:
  GroupedDifferentialAttention(ParamStore& store, const std::string& name,
                               const AttentionSpec& spec)
      : spec_(checked(spec)),
        r_(spec.options.grouped_differential().group_ratio()),
        noise_(spec.heads / (r_ + 1)),
        signal_(r_ * noise_),
        qkv_(store, name + ".qkv", spec.width, (3 * signal_ + 2 * noise_) * spec.head_dim,
             spec.bias, spec.init_std),
        maps_(store, name, spec),
        mix_(store, name, spec, spec.head_dim),
        proj_(store, name + ".proj", signal_ * spec.head_dim, spec.width, spec.bias,
              spec.proj_init_std) {}

  Tensor forward(const Tensor& x, AttentionContext& ctx) override {
    const AttentionSpec& s = spec_;
    const int64_t n = x.size(0), d = s.head_dim, h1 = signal_, h2 = noise_;
    std::vector<Tensor> parts = split(qkv_(x), 1, {h1 * d, h1 * d, h1 * d, h2 * d, h2 * d});
    const Tensor q1 = maps_.queries(reshape(parts[0], {n, h1, d}), ctx.seq);
    const Tensor k1 = maps_.keys(reshape(parts[1], {n, h1, d}), ctx.seq);
    const Tensor v = reshape(parts[2], {n, h1, d});
    const Tensor q2 = maps_.queries(reshape(parts[3], {n, h2, d}), ctx.seq);
    const Tensor k2 = maps_.keys(reshape(parts[4], {n, h2, d}), ctx.seq);
    refuse_attention_losses(ctx, s.layer, "GROUPED_DIFFERENTIAL");
    const CoreAttentionOptions o = core_options(s, ctx.seq, ctx.diagnostics != nullptr);
    CoreAttentionOptions o2 = o;  // the noise map's entropy is not reported
    o2.stats.entropy = false;
    const Tensor& cu = ctx.seq.cu_seqlens;
    const CoreAttentionResult a1 =
        ctx.executor.run(core_call_id(s.layer, 0), q1, k1, v, cu, cu, {}, o);
    // Signal heads h = g r .. g r + r - 1 are contiguous: [n, H1, d] is [n, H2, r d] as is.
    const CoreAttentionResult a2 = ctx.executor.run(core_call_id(s.layer, 1), q2, k2,
                                                    reshape(v, {n, h2, r_ * d}), cu, cu, {}, o2);
    const Tensor lambda = mix_.lambda();
    const Tensor y = mix_(a1.out, reshape(a2.out, {n, h1, d}), lambda);  // [n, H1, d]
    if (ctx.diagnostics) {
      mix_.diagnose(a1.stats, a2.stats, r_, lambda.item(), ctx);
      ctx.diagnostics->record_value_states(s.layer, ctx.seq.positions, v);
    }
    if (ctx.map && ctx.map->layer == s.layer) mix_.fill_map(q1, k1, q2, k2, r_, lambda.item(), ctx);
    return proj_(reshape(y, {n, h1 * d}));
  }

 private:
  const AttentionSpec spec_;
  const int64_t r_, noise_, signal_;
  Linear qkv_;
  QueryKeyMaps maps_;
  DifferentialMix mix_;
  Linear proj_;
};

}  // namespace

void register_attention_grouped_differential() {
  register_attention(
      attnlab::config::Attention::GROUPED_DIFFERENTIAL,
      [](ParamStore& store, const std::string& name, const AttentionSpec& spec) {
        return std::unique_ptr<AttentionLayer>(new GroupedDifferentialAttention(store, name, spec));
      },
      [](const attnlab::config::Recipe& r, config::RuleCheck& check) {
        refuse_attention_losses_rule(r, check, "GROUPED_DIFFERENTIAL");
        const auto& m = r.model();
        const int groups = r.attention().grouped_differential().group_ratio() + 1;
        check.require(
            m.heads() % groups == 0,
            {"model.heads", "attention.grouped_differential.group_ratio", "attention.kind"},
            fmt::format("{} query/key maps do not split {}:1 into signal and noise maps "
                        "(needs a multiple of {})",
                        m.heads(), groups - 1, groups));
        check.require(config::kv_heads(m) == m.heads(), {"model.kv_heads", "attention.kind"},
                      "GROUPED_DIFFERENTIAL shares noise maps itself: set kv_heads 0 (no GQA)");
      });
}

}  // namespace attn
