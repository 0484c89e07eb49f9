#include "layers/attention/self_attention.h"

#include "framework/core/error.h"
#include "framework/ops/norm.h"
#include "framework/ops/shape.h"

namespace attn {

SelfAttention::SelfAttention(ParamStore& store, const std::string& name,
                             const SelfAttentionConfig& c, int layer_index)
    : c_(c),
      layer_(layer_index),
      qkv_(store, name + ".qkv", c.width, (c.heads + 2 * c.kv_heads) * c.head_dim, c.bias,
           c.init_std),
      proj_(store, name + ".proj", c.heads * c.head_dim, c.width, c.bias, c.proj_init_std) {
  ATTN_CHECK(c.heads > 0 && c.kv_heads > 0 && c.heads % c.kv_heads == 0,
             "kv_heads {} must divide heads {}", c.kv_heads, c.heads);
  if (c.qk_norm) {
    q_norm_ = store.declare(name + ".q_norm.weight", {c.head_dim}, ParamInit::ones(), false);
    k_norm_ = store.declare(name + ".k_norm.weight", {c.head_dim}, ParamInit::ones(), false);
  }
  if (c.sink == SinkType::kLearnable)
    sink_ = store.declare(name + ".sink", {c.heads}, ParamInit::zeros(), false);
}

Tensor SelfAttention::operator()(const Tensor& x, const PackedSequences& seq,
                                 CoreAttentionExecutor& executor) const {
  const int64_t n = x.shape()[0], hd = c_.head_dim;
  std::vector<Tensor> parts =
      split(qkv_(x), 1, {c_.heads * hd, c_.kv_heads * hd, c_.kv_heads * hd});
  Tensor q = reshape(parts[0], {n, c_.heads, hd});
  Tensor k = reshape(parts[1], {n, c_.kv_heads, hd});
  Tensor v = reshape(parts[2], {n, c_.kv_heads, hd});
  if (c_.qk_norm) {
    q = rms_norm(q, q_norm_, c_.qk_norm_eps);
    k = rms_norm(k, k_norm_, c_.qk_norm_eps);
  }
  if (c_.rope) {
    q = rope(q, seq.positions, c_.rope_options);
    k = rope(k, seq.positions, c_.rope_options);
  }
  Tensor sink = sink_;
  if (c_.sink == SinkType::kOffByOne)  // softmax1: a fixed zero logit, nothing to learn
    sink = Tensor::zeros({c_.heads}, x.dtype(), x.device());
  CoreAttentionOptions options;
  options.mask.kind = MaskKind::kCausal;
  options.mask.window = c_.window;
  options.block_q = c_.block_q;
  options.block_k = c_.block_k;
  CoreAttentionResult r =
      executor.run(layer_, q, k, v, seq.cu_seqlens, seq.cu_seqlens, sink, options);
  return proj_(reshape(r.out, {n, c_.heads * hd}));
}

}  // namespace attn
