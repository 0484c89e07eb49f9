// The single seam between models and distribution: layers call core attention through this
// interface; the default runs it locally, parallel/cad plugs in a distributed executor. It is a
// library of its own (attnlab_core_attention: the op, its kernels and this interface), so
// parallel/ can depend on it without the layers above.
//
// Asynchronous executors (CAD's ping-pong): start() begins a layer's core attention and returns
// at once with a pending result; the caller runs other work (the linear layers of the other
// half-batch) and then wait()s. The blocking run() is start() then wait(). The backward needs no
// interface of its own: an executor records its tape node inside start() or wait(), and a model
// that interleaves two half-batches' forwards gets their backwards interleaved in reverse by the
// tape, so the executor's backward closures can overlap the same way (send in one node, receive
// in the next). The local executor finishes the work inside start().
#pragma once

#include <functional>
#include <map>
#include <string>

#include "layers/attention/core_attention.h"

namespace attn {

// The result of a started core-attention call; wait() once.
class PendingCoreAttention {
 public:
  explicit PendingCoreAttention(CoreAttentionResult ready) : ready_(std::move(ready)) {}
  explicit PendingCoreAttention(std::function<CoreAttentionResult()> finish)
      : finish_(std::move(finish)) {}
  CoreAttentionResult wait();

 private:
  CoreAttentionResult ready_;
  std::function<CoreAttentionResult()> finish_;
  bool waited_ = false;
};

class CoreAttentionExecutor {
 public:
  virtual ~CoreAttentionExecutor() = default;
  // Same contract as core_attention(); `layer` identifies the calling layer (core_call_id) so an
  // executor can keep per-layer state (plans, saved tensors for backward) across forward and
  // backward. The tensors must stay unchanged until wait() returns.
  virtual PendingCoreAttention start(int layer, const Tensor& q, const Tensor& k, const Tensor& v,
                                     const Tensor& cu_seqlens_q, const Tensor& cu_seqlens_k,
                                     const Tensor& sink, const CoreAttentionOptions& options) = 0;

  // What the executor wants logged with the step's metrics ("cad/..."): none by default. Called
  // on every rank at the same points of a run, so a distributed executor may communicate.
  virtual std::map<std::string, double> metrics() { return {}; }

  CoreAttentionResult run(int layer, const Tensor& q, const Tensor& k, const Tensor& v,
                          const Tensor& cu_seqlens_q, const Tensor& cu_seqlens_k,
                          const Tensor& sink, const CoreAttentionOptions& options) {
    return start(layer, q, k, v, cu_seqlens_q, cu_seqlens_k, sink, options).wait();
  }
};

// Runs core_attention() in this process, inside start(). Stateless; one shared instance will do.
class LocalCoreAttention final : public CoreAttentionExecutor {
 public:
  PendingCoreAttention start(int layer, const Tensor& q, const Tensor& k, const Tensor& v,
                             const Tensor& cu_seqlens_q, const Tensor& cu_seqlens_k,
                             const Tensor& sink, const CoreAttentionOptions& options) override;
};

CoreAttentionExecutor& local_core_attention();

}  // namespace attn
