// DIFFERENTIAL: Differential Transformer (V1) attention, SPEC-attention section 5. spec.heads = H
// query/key maps of width d = head_dim form H/2 differential heads; head h has two maps
// (A1, A2) and one value of width 2d: O_h = (A1_h - lambda A2_h) V_h, then
// (1 - lambda_init) * RMSNorm_2d(O_h) and the output projection. spec.kv_heads = Hk key maps
// (even, divides H) form Hk/2 key/value groups (GQA over the differential heads).
//
// Parameters (declaration order; Linear weights are [out, in] as in PyTorch, y = x W^T + b):
//   <name>.qkv.weight [H*d + Hk*d + (Hk/2)*2d, width], <name>.qkv.bias (spec.bias). Output
//       columns: queries [H/2 heads][2 maps][d], then keys [Hk/2 groups][2 maps][d], then values
//       [Hk/2 groups][2d]. Map 0 of a head/group is (q1, k1), map 1 is (q2, k2).
//   <name>.q_norm.weight, <name>.k_norm.weight [d] (attention.qk_norm): RMSNorm (eps
//       spec.qk_norm_eps) of every query / key map, before RoPE (spec.rope, every map).
//   <name>.lambda_q1, lambda_k1, lambda_q2, lambda_k2 [d]: normal(differential.lambda_init_std);
//       lambda = exp(lq1 . lk1) - exp(lq2 . lk2) + lambda_init, lambda_init = 0.8 - 0.6
//       exp(-0.3 layer); one scalar per layer.
//   <name>.subln.weight [2d]: RMSNorm gain (eps differential.norm_eps) shared by all heads.
//   <name>.proj.weight [width, (H/2)*2d], <name>.proj.bias (spec.bias); input columns
//       [H/2 heads][2d].
// Core calls: core_call_id(layer, 0) for (q1, k1, v), core_call_id(layer, 1) for (q2, k2, v),
// both causal with the layer's window and scale 1/sqrt(d).
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
  if (s.heads % 2 != 0)
    throw Error(
        ErrorKind::kConfig, "model.heads",
        fmt::format("DIFFERENTIAL pairs query/key maps: heads must be even, got {}", s.heads));
  if (s.kv_heads % 2 != 0 || s.heads % s.kv_heads != 0)
    throw Error(ErrorKind::kConfig, "model.kv_heads",
                fmt::format("DIFFERENTIAL pairs key maps: kv_heads must be even and divide heads "
                            "{}, got {}",
                            s.heads, s.kv_heads));
  return s;
}

class DifferentialAttention final : public AttentionLayer {
 public:
  DifferentialAttention(ParamStore& store, const std::string& name, const AttentionSpec& spec)
      : spec_(checked(spec)),
        qkv_(store, name + ".qkv", spec.width, (spec.heads + 2 * spec.kv_heads) * spec.head_dim,
             spec.bias, spec.init_std),
        maps_(store, name, spec),
        mix_(store, name, spec, 2 * spec.head_dim),
        proj_(store, name + ".proj", spec.heads * spec.head_dim, spec.width, spec.bias,
              spec.proj_init_std) {}

  Tensor forward(const Tensor& x, AttentionContext& ctx) override {
    const AttentionSpec& s = spec_;
    const int64_t n = x.size(0), d = s.head_dim, heads = s.heads / 2, groups = s.kv_heads / 2;
    std::vector<Tensor> parts = split(qkv_(x), 1, {s.heads * d, s.kv_heads * d, s.kv_heads * d});
    // Maps are ordered [head][map]: after norm and RoPE, split each head's pair.
    const Tensor q = maps_.queries(reshape(parts[0], {n, s.heads, d}), ctx.seq);
    const Tensor k = maps_.keys(reshape(parts[1], {n, s.kv_heads, d}), ctx.seq);
    std::vector<Tensor> qs = split(reshape(q, {n, heads, 2 * d}), 2, {d, d});   // [n, heads, d]
    std::vector<Tensor> ks = split(reshape(k, {n, groups, 2 * d}), 2, {d, d});  // [n, groups, d]
    const Tensor v = reshape(parts[2], {n, groups, 2 * d});
    refuse_attention_losses(ctx, s.layer, "DIFFERENTIAL");
    const CoreAttentionOptions o = core_options(s, ctx.seq, ctx.diagnostics != nullptr);
    CoreAttentionOptions o2 = o;  // the noise map's entropy is not reported
    o2.stats.entropy = false;
    const Tensor& cu = ctx.seq.cu_seqlens;
    const CoreAttentionResult a1 =
        ctx.executor.run(core_call_id(s.layer, 0), qs[0], ks[0], v, cu, cu, {}, o);
    const CoreAttentionResult a2 =
        ctx.executor.run(core_call_id(s.layer, 1), qs[1], ks[1], v, cu, cu, {}, o2);
    const Tensor lambda = mix_.lambda();
    const Tensor y = mix_(a1.out, a2.out, lambda);  // [n, heads, 2d]
    if (ctx.diagnostics) {
      mix_.diagnose(a1.stats, a2.stats, 1, lambda.item(), ctx);
      ctx.diagnostics->record_value_states(s.layer, ctx.seq.positions, v);
    }
    if (ctx.map && ctx.map->layer == s.layer)
      mix_.fill_map(qs[0], ks[0], qs[1], ks[1], 1, lambda.item(), ctx);
    return proj_(reshape(y, {n, heads * 2 * d}));
  }

 private:
  const AttentionSpec spec_;
  Linear qkv_;
  QueryKeyMaps maps_;
  DifferentialMix mix_;
  Linear proj_;
};

}  // namespace

void register_attention_differential() {
  register_attention(
      attnlab::config::Attention::DIFFERENTIAL,
      [](ParamStore& store, const std::string& name, const AttentionSpec& spec) {
        return std::unique_ptr<AttentionLayer>(new DifferentialAttention(store, name, spec));
      },
      [](const attnlab::config::Recipe& r, config::RuleCheck& check) {
        refuse_attention_losses_rule(r, check, "DIFFERENTIAL");
        const auto& m = r.model();
        check.require(m.heads() % 2 == 0, {"model.heads", "attention.kind"},
                      fmt::format("DIFFERENTIAL pairs query/key maps: needs an even number, got {}",
                                  m.heads()));
        check.require(
            config::kv_heads(m) % 2 == 0, {"model.kv_heads", "attention.kind"},
            fmt::format("DIFFERENTIAL pairs key/value heads: needs an even number, got {}",
                        config::kv_heads(m)));
      });
}

}  // namespace attn
