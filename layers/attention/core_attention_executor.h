// The single seam between models and distribution: layers call core attention through this
// interface; the default runs it locally, parallel/cad plugs in a distributed executor.
#pragma once

#include "layers/attention/core_attention.h"

namespace attn {

class CoreAttentionExecutor {
 public:
  virtual ~CoreAttentionExecutor() = default;
  // Same contract as core_attention(); `layer` identifies the calling layer so an executor can
  // keep per-layer state (plans, saved tensors for backward) across forward and backward.
  virtual CoreAttentionResult run(int layer, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& cu_seqlens_q, const Tensor& cu_seqlens_k,
                                  const Tensor& sink, const CoreAttentionOptions& options) = 0;
};

// Runs core_attention() in this process. Stateless; one shared instance is enough.
class LocalCoreAttention final : public CoreAttentionExecutor {
 public:
  CoreAttentionResult run(int layer, const Tensor& q, const Tensor& k, const Tensor& v,
                          const Tensor& cu_seqlens_q, const Tensor& cu_seqlens_k,
                          const Tensor& sink, const CoreAttentionOptions& options) override;
};

CoreAttentionExecutor& local_core_attention();

}  // namespace attn
