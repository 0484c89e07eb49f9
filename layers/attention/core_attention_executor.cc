#include "layers/attention/core_attention_executor.h"

#include "framework/core/error.h"

namespace attn {

CoreAttentionResult PendingCoreAttention::wait() {
  ATTN_CHECK(!waited_, "a pending core-attention result was waited for twice");
  waited_ = true;
  return finish_ ? finish_() : std::move(ready_);
}

PendingCoreAttention LocalCoreAttention::start(int /*layer*/, const Tensor& q, const Tensor& k,
                                               const Tensor& v, const Tensor& cu_seqlens_q,
                                               const Tensor& cu_seqlens_k, const Tensor& sink,
                                               const CoreAttentionOptions& options) {
  return PendingCoreAttention(core_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, sink, options));
}

CoreAttentionExecutor& local_core_attention() {
  static LocalCoreAttention local;
  return local;
}

}  // namespace attn
