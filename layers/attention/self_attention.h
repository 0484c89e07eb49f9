// Multi-head self-attention with grouped key/value heads (MHA, GQA, MQA): fused QKV projection,
// optional RoPE, QK-norm and per-head sink logit, core attention through an executor, output proj.
#pragma once

#include <string>

#include "framework/ops/rope.h"
#include "layers/attention/core_attention_executor.h"
#include "layers/linear.h"
#include "layers/packed_sequences.h"

namespace attn {

enum class SinkType { kNone, kLearnable, kOffByOne };

struct SelfAttentionConfig {
  int64_t width = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;  // divides heads
  int64_t head_dim = 0;
  bool bias = true;
  double init_std = 0.02;
  double proj_init_std = 0.02;
  bool rope = false;
  RopeOptions rope_options;
  bool qk_norm = false;  // RMSNorm over each head's query and key vectors
  double qk_norm_eps = 1e-6;
  SinkType sink = SinkType::kNone;
  int64_t window = 0;  // sliding window (keys per query, itself included); 0 = off
  int64_t block_q = 64;
  int64_t block_k = 64;
};

class SelfAttention {
 public:
  // Parameters: <name>.qkv (rows: all query heads, then key heads, then value heads),
  // <name>.proj, <name>.q_norm / <name>.k_norm, <name>.sink.
  SelfAttention(ParamStore& store, const std::string& name, const SelfAttentionConfig& config,
                int layer_index);
  // x [tokens, width] -> [tokens, width], causal inside each document of `seq`.
  Tensor operator()(const Tensor& x, const PackedSequences& seq,
                    CoreAttentionExecutor& executor) const;

 private:
  SelfAttentionConfig c_;
  int layer_;
  Linear qkv_, proj_;
  Tensor q_norm_, k_norm_, sink_;
};

}  // namespace attn
