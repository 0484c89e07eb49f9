// The pipeline most attention variants share: a fused q/k/v projection (QK-RMSNorm, RoPE), core
// attention through the executor, a variant hook on the per-head outputs, the output projection.
#pragma once

#include <string>

#include "layers/attention/attention_layer.h"
#include "layers/linear.h"

namespace attn {

class ProjectedAttention : public AttentionLayer {
 public:
  Tensor forward(const Tensor& x, AttentionContext& ctx) override;

 protected:
  // Parameters: <name>.qkv (rows: query heads, then key heads, then value heads), <name>.proj,
  // <name>.q_norm / <name>.k_norm (attention.qk_norm).
  ProjectedAttention(ParamStore& store, const std::string& name, const AttentionSpec& spec);

  struct Heads {
    Tensor q, k, v;            // [n, heads, d], [n, kv_heads, d], [n, kv_heads, d] (after RoPE)
    CoreAttentionResult core;  // out [n, heads, d]; first-token mass and entropy when diagnosing
  };

  // Sink logits [heads] of the core op; undefined = none.
  virtual Tensor sink() const { return {}; }
  // Per-head outputs -> input of the output projection, [n, heads, d]. Default: the core output.
  virtual Tensor combine(const Tensor& x, const Heads& h, AttentionContext& ctx);
  // SPEC-10 statistics of this layer. Default: the core's first-token mass and entropy, and the
  // attention similarity.
  virtual void diagnose(const Heads& h, AttentionContext& ctx);
  // attn/adl_cosine/l<L>: ADL's mean cosine (theta 2, mean form) of this layer's head-averaged
  // probabilities, the sink column left out; nothing for documents past the materialised limit.
  void record_attention_similarity(const Heads& h, AttentionContext& ctx);
  // Dense weights for attnmap. Default: the softmax probabilities (with the sink column).
  virtual void fill_map(const Heads& h, AttentionContext& ctx);

  const AttentionSpec spec_;

 private:
  Linear qkv_, proj_;
  Tensor q_norm_, k_norm_;
};

}  // namespace attn
