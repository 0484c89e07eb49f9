// ZeRO stage 1: each rank keeps the optimizer state of one contiguous shard of the flat buffer;
// gradients are reduce-scattered to their shard's owner and the updated parameters all-gathered.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "optim/optimizer.h"
#include "parallel/comm/communicator.h"

namespace attn {

// The flat buffer of `padded` elements cut into `world` contiguous shards at multiples of 64
// elements, in rank order (trailing shards may be empty when the buffer is small).
std::vector<int64_t> zero1_shard_counts(int64_t padded, int world);

// An Optimizer over the whole model whose state lives in shards. Per step: backward on every
// rank, reduce_scatter_gradients() (or any reduction that leaves this rank's shard summed),
// clip_grad_norm(), step(). Checkpoints stay in the layout-free per-parameter form, so a ZeRO-1
// run resumes on any number of ranks, with or without ZeRO-1.
class Zero1Optimizer final : public Optimizer {
 public:
  using MakeShardOptimizer = std::function<std::unique_ptr<Optimizer>(FlatRange shard)>;
  Zero1Optimizer(ParamStore& store, Communicator& comm, const MakeShardOptimizer& make);

  // Sums the gradients over ranks into this rank's shard of the flat gradient buffer (the rest
  // of the buffer keeps this rank's own, unreduced, gradients).
  void reduce_scatter_gradients();
  // Global gradient L2 norm from the shards (one all-reduce of a scalar); clips this rank's
  // shard like clip_grad_norm. Returns the norm before clipping.
  double clip_grad_norm(double max_norm);

  // The shard's update, then every rank receives every shard's new parameters.
  void step() override;
  void set_lr(double lr) override { inner_->set_lr(lr); }
  NamedTensors flat_state() const override { return inner_->flat_state(); }
  NamedScalars scalar_state() const override { return inner_->scalar_state(); }
  void load_scalar_state(const NamedScalars& s) override { inner_->load_scalar_state(s); }
  // Collective (every rank calls it): the whole state gathered, on every rank.
  NamedTensors state() const override;
  // Local: each rank reads the whole state and keeps its shard.
  void load_state(const NamedTensors& state) override;

  const std::vector<int64_t>& counts() const { return counts_; }

 private:
  // Whole-buffer copies of each named flat state buffer (for checkpoints).
  NamedTensors whole_buffers() const;

  Communicator& comm_;
  std::vector<int64_t> counts_;  // shard sizes in rank order
  std::unique_ptr<Optimizer> inner_;
  // This rank's shard outside the flat buffers: MPI forbids a send buffer that overlaps the
  // receive buffer, so reduced gradients arrive here and parameters leave from here.
  Tensor scratch_;
};

}  // namespace attn
