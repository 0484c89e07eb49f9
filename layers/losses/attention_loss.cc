#include "layers/losses/attention_loss.h"

#include <fmt/format.h>

#include "framework/core/error.h"
#include "layers/attention/attention_layer.h"

namespace attn {

void request_attention_losses(const AttentionContext& ctx, int layer, int64_t heads,
                              CoreAttentionOptions& options) {
  if (!ctx.attention_losses) return;
  for (const AttentionLoss* loss : *ctx.attention_losses)
    if (loss->selects(layer)) loss->request(ctx.seq, heads, options.stats);
}

void add_attention_loss_terms(AttentionContext& ctx, int layer, const AttentionLossInputs& in) {
  if (!ctx.attention_losses) return;
  ATTN_CHECK(ctx.attention_loss_terms != nullptr,
             "attention losses are set but the context collects no terms");
  for (const AttentionLoss* loss : *ctx.attention_losses)
    if (loss->selects(layer))
      ctx.attention_loss_terms->push_back({loss->name(), layer, loss->term(layer, in)});
}

void refuse_attention_losses(const AttentionContext& ctx, int layer, const std::string& variant) {
  if (!ctx.attention_losses) return;
  for (const AttentionLoss* loss : *ctx.attention_losses)
    if (loss->selects(layer))
      throw Error(ErrorKind::kConfig, "losses",
                  fmt::format("the {} loss on layer {}: {} attention has no single softmax map "
                              "per head to regularise (not supported)",
                              loss->name(), layer, variant));
}

}  // namespace attn
