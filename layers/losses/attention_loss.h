// The hook for attention losses (AEM, ADL, ...): a loss selects layers, asks core attention for
// the fused statistics it needs and turns them into a weighted term of the training objective.
// Its gradient reaches the core backward through those statistics (the row entropy's dS term,
// the key mass's dP term), so no loss ever forms a T x T matrix.
#pragma once

#include <string>
#include <vector>

#include "layers/attention/core_attention.h"
#include "layers/packed_sequences.h"

namespace attn {

struct AttentionContext;

// One layer's core-attention call as a loss sees it: the call's inputs (differentiable: a loss
// that materialises probabilities recomputes them from q and k) and the fused statistics it
// requested.
struct AttentionLossInputs {
  const PackedSequences& seq;
  const Tensor& q;     // [tokens, heads, d]
  const Tensor& k;     // [tokens, kv_heads, d]
  const Tensor& sink;  // [heads] or undefined
  const Tensor& lse;   // [tokens, heads] the call's row log-normaliser (sink included), constant
  const CoreAttentionOptions& options;
  const AttentionStats& stats;
};

class AttentionLoss {
 public:
  virtual ~AttentionLoss() = default;
  // Short name for metrics: the term of layer L is logged as loss/<name>/l<L>.
  virtual std::string name() const = 0;
  virtual bool selects(int layer) const = 0;
  // Adds the statistics this loss reads (entropy, key mass and its row weights, ...) to `stats`;
  // `heads` is the number of query heads of the core call.
  virtual void request(const PackedSequences& seq, int64_t heads,
                       AttentionStatsRequest& stats) const = 0;
  // The weighted scalar term of one layer, from that layer's core-attention call.
  virtual Tensor term(int layer, const AttentionLossInputs& in) const = 0;
};

// One layer's term, kept apart for logging; the model adds every term to its loss.
struct AttentionLossTerm {
  std::string name;
  int layer = 0;
  Tensor value;  // []
};

// For a layer whose core call is plain core attention: merges the statistics that the losses
// selecting `layer` need into `options`, then (after the call) appends their terms.
void request_attention_losses(const AttentionContext& ctx, int layer, int64_t heads,
                              CoreAttentionOptions& options);
void add_attention_loss_terms(AttentionContext& ctx, int layer, const AttentionLossInputs& in);

// For variants whose core calls are not one plain softmax map (differential): a loss selecting
// `layer` is refused, never silently skipped.
void refuse_attention_losses(const AttentionContext& ctx, int layer, const std::string& variant);

}  // namespace attn
