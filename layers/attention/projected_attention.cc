#include "layers/attention/projected_attention.h"

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/norm.h"
#include "framework/ops/shape.h"
#include "layers/attention/core_options.h"
#include "layers/attention/response_focus.h"
#include "layers/losses/adl_fused.h"

namespace attn {

ProjectedAttention::ProjectedAttention(ParamStore& store, const std::string& name,
                                       const AttentionSpec& s)
    : spec_(s),
      qkv_(store, name + ".qkv", s.width, (s.heads + 2 * s.kv_heads) * s.head_dim, s.bias,
           s.init_std),
      proj_(store, name + ".proj", s.heads * s.head_dim, s.width, s.bias, s.proj_init_std) {
  if (s.options.qk_norm()) {
    q_norm_ = store.declare(name + ".q_norm.weight", {s.head_dim}, ParamInit::ones(), false);
    k_norm_ = store.declare(name + ".k_norm.weight", {s.head_dim}, ParamInit::ones(), false);
  }
}

Tensor ProjectedAttention::forward(const Tensor& x, AttentionContext& ctx) {
  const AttentionSpec& s = spec_;
  const int64_t n = x.size(0), hd = s.head_dim;
  std::vector<Tensor> parts = split(qkv_(x), 1, {s.heads * hd, s.kv_heads * hd, s.kv_heads * hd});
  Heads h;
  h.q = reshape(parts[0], {n, s.heads, hd});
  h.k = reshape(parts[1], {n, s.kv_heads, hd});
  h.v = reshape(parts[2], {n, s.kv_heads, hd});
  if (s.options.qk_norm()) {
    h.q = rms_norm(h.q, q_norm_, s.qk_norm_eps);
    h.k = rms_norm(h.k, k_norm_, s.qk_norm_eps);
  }
  if (s.rope) {
    h.q = rope(h.q, ctx.seq.positions, s.rope_options);
    h.k = rope(h.k, ctx.seq.positions, s.rope_options);
  }
  CoreAttentionOptions o =
      core_options(s, ctx.seq, ctx.diagnostics && !ctx.diagnostics->focus_only());
  if (ctx.diagnostics) request_response_focus(ctx.seq, h.q, o);
  request_attention_losses(ctx, s.layer, s.heads, o);
  const Tensor sink_logits = sink();
  h.core = ctx.executor.run(core_call_id(s.layer), h.q, h.k, h.v, ctx.seq.cu_seqlens,
                            ctx.seq.cu_seqlens, sink_logits, o);
  add_attention_loss_terms(ctx, s.layer,
                           {ctx.seq, h.q, h.k, sink_logits, h.core.lse, o, h.core.stats});
  Tensor y = combine(x, h, ctx);
  if (ctx.diagnostics) {
    diagnose(h, ctx);
    ctx.diagnostics->record_value_states(s.layer, ctx.seq.positions, h.v);
  }
  if (ctx.map && ctx.map->layer == s.layer) fill_map(h, ctx);
  return proj_(reshape(y, {n, s.heads * hd}));
}

Tensor ProjectedAttention::combine(const Tensor&, const Heads& h, AttentionContext&) {
  return h.core.out;
}

void ProjectedAttention::diagnose(const Heads& h, AttentionContext& ctx) {
  const AttentionStats& st = h.core.stats;
  record_response_focus(spec_.layer, ctx.seq, st, *ctx.diagnostics);
  if (ctx.diagnostics->focus_only()) return;
  ctx.diagnostics->record_maps(spec_.layer, ctx.seq.positions, st.first_token_mass, st.entropy,
                               st.entropy_normalized);
  record_attention_similarity(h, ctx);
}

void ProjectedAttention::record_attention_similarity(const Heads& h, AttentionContext& ctx) {
  // ADL's own statistic at its published threshold, so runs with and without the loss compare
  // on the quantity it lowers; fused, from the call's lse, at any length.
  NoGrad no_grad;
  const double cosine = adl_fused(h.q, h.k, sink(), h.core.lse, ctx.seq.cu_seqlens,
                                  core_options(spec_, ctx.seq, false), AdlOptions{})
                            .item();
  ctx.diagnostics->record_layer("adl_cosine", spec_.layer, cosine);
}

void ProjectedAttention::fill_map(const Heads& h, AttentionContext& ctx) {
  ATTN_CHECK(ctx.seq.mask.kind == MaskKind::kCausal,
             "attention maps are drawn for causal batches only");
  NoGrad no_grad;
  ctx.map->heads = spec_.heads;
  ctx.map->tokens = h.q.size(0);
  ctx.map->weights = dense_causal_probabilities(h.q, h.k, sink(), spec_.options.window());
  ctx.map->description = "softmax probabilities";
}

}  // namespace attn
