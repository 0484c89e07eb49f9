// How the gradients of one optimizer step are combined across ranks: plain data parallel with
// overlapped buckets, ZeRO-1 (reduce-scatter to shard owners) or the deterministic group tree.
// A training procedure (recipes/procedures/) drives one step through this interface and never
// needs to know which it is.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "framework/core/param_store.h"
#include "parallel/comm/communicator.h"

namespace attn {

class Zero1Optimizer;

// One step hands in its gradient in `parts` (micro-batches, or the tree's sample groups), each
// the backward of one part's loss into the flat gradient buffer, losses scaled so the sum over
// parts and ranks is the gradient of the global objective:
//
//   for k in [0, parts): begin_part(k); if the part has targets { before_backward(k, parts);
//                        backward } end_part(k)
//   finish(); loss = sum_losses(losses of the parts); norm = clip_grad_norm(max); optimizer
//   step; after_step()
//
// Every rank makes the same calls in the same order (they are collectives).
class GradientSync {
 public:
  virtual ~GradientSync() = default;

  // > 0: the step's rows arrive as one batch that the caller cuts into this many parts (row m
  // of part p is row p + m * parts), handed in in part_order(); the tree fixes which rows form
  // a group so N ranks sum like one. 0: the parts are the caller's micro-batches, in order.
  virtual int parts_per_batch() const { return 0; }
  virtual const std::vector<int>& part_order() const;

  virtual void begin_part(int k) { (void)k; }
  virtual void before_backward(int k, int parts) { (void)k, (void)parts; }
  virtual void end_part(int k) { (void)k; }
  // Completes the reduction: afterwards the flat gradients hold what the optimizer updates from.
  virtual void finish() = 0;
  // The step's loss from `local[k]`, the (weighted) loss of the k-th part handed in on this
  // rank: summed over parts and ranks the way the gradient was, on every rank.
  virtual double sum_losses(const std::vector<double>& local) = 0;
  // The global gradient L2 norm, clipped to `max_norm` (0: off) in place. Returns the norm.
  virtual double clip_grad_norm(double max_norm) = 0;
  // After the optimizer step: buffers (non-trainable state) become their mean over ranks.
  virtual void after_step() {}
  // Seconds blocked on reductions that backward did not hide, summed over the run (only the
  // overlapped buckets measure it).
  virtual std::optional<double> wait_seconds() const { return std::nullopt; }
};

// A value summed over all ranks of `comm` (itself in a world of one).
double sum_over_ranks(Communicator& comm, double v);

// One rank, nothing to combine.
std::unique_ptr<GradientSync> make_local_sync(ParamStore& store);
// Plain data parallel (parallel/data_parallel.h): gradient buckets of about `bucket_mb`
// all-reduced over `buffers` while backward runs; `comm` carries host scalars.
std::unique_ptr<GradientSync> make_bucketed_sync(ParamStore& store, Communicator& comm,
                                                 Communicator& buffers, double bucket_mb);
// ZeRO-1 (parallel/zero1.h): gradients reduce-scattered to the shard owners of `optimizer`.
std::unique_ptr<GradientSync> make_zero1_sync(ParamStore& store, Communicator& comm,
                                              Zero1Optimizer& optimizer);
// The deterministic group tree (parallel/group_tree_reduce.h) over `groups` sample groups: the
// same bits on any number of ranks. Works with either optimizer (after the tree every rank holds
// the whole summed gradient).
std::unique_ptr<GradientSync> make_tree_sync(ParamStore& store, Communicator& comm, int groups);

}  // namespace attn
