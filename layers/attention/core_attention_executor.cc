#include "layers/attention/core_attention_executor.h"

namespace attn {

CoreAttentionResult LocalCoreAttention::run(int /*layer*/, const Tensor& q, const Tensor& k,
                                            const Tensor& v, const Tensor& cu_seqlens_q,
                                            const Tensor& cu_seqlens_k, const Tensor& sink,
                                            const CoreAttentionOptions& options) {
  return core_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, sink, options);
}

CoreAttentionExecutor& local_core_attention() {
  static LocalCoreAttention local;
  return local;
}

}  // namespace attn
