// The optimizer interface the trainer sees: one step over a range of the flat buffers of a
// ParamStore (all of it, or one rank's shard under ZeRO-1), a settable learning rate, and state.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "framework/core/param_store.h"

namespace attn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using NamedScalars = std::vector<std::pair<std::string, double>>;

// Which parameters get weight decay. kByParam follows ParamInfo::weight_decay (layers switch it
// off for norms, biases and embeddings); kAll decays everything (the B1 benchmark's peer does).
enum class DecayPolicy { kByParam, kAll };

// Elements [begin, end) of the flat buffers. end < 0 means "to the end of the buffer".
struct FlatRange {
  int64_t begin = 0, end = -1;
  int64_t size() const { return end - begin; }
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  // Updates the parameters in range() from the gradients in range(); elementwise, so a sharded
  // step gives the same bits as the corresponding slice of a whole-buffer step.
  virtual void step() = 0;
  virtual void set_lr(double lr) = 0;
  FlatRange range() const { return range_; }
  ParamStore& store() const { return store_; }
  // State as flat buffers over range(), by name ("exp_avg", ...): views, so writing them sets
  // the state. Scalars ("step") are the same on every rank.
  virtual NamedTensors flat_state() const = 0;
  virtual NamedScalars scalar_state() const { return {}; }
  virtual void load_scalar_state(const NamedScalars&) {}

  // Checkpoint form: tensors "<state>.<param name>" (layout-free, so a checkpoint outlives a
  // change of world size or sharding) plus scalars as 0-d f64 tensors. load_state() checks
  // every entry before copying anything; a missing or mis-shaped one is an error naming it.
  // The defaults need range() to be the whole buffer (ZeRO-1 gathers: parallel/zero1.h).
  virtual NamedTensors state() const;
  virtual void load_state(const NamedTensors& state);

 protected:
  Optimizer(ParamStore& store, FlatRange range);
  ParamStore& store_;
  FlatRange range_;  // resolved: 0 <= begin <= end <= padded_size
};

// A flat buffer with 1 where weight decay applies and 0 elsewhere (padding and gaps included).
Tensor weight_decay_mask(const ParamStore& store, DecayPolicy policy);

// `range` with end < 0 resolved against the store; checked to lie inside the flat buffer.
FlatRange resolve_range(const ParamStore& store, FlatRange range);

// Checkpoint form of whole-buffer flat state: per-parameter views "<name>.<param>" of each
// buffer, then the scalars as 0-d f64 tensors.
NamedTensors checkpoint_state(const ParamStore& store, const NamedTensors& flats,
                              const NamedScalars& scalars);

// The inverse: checks that `state` has every "<name>.<param>" of the right shape and every
// scalar, then copies into the whole-buffer `flats` and returns the scalars (in order).
NamedScalars load_checkpoint_state(const ParamStore& store, const NamedTensors& flats,
                                   const std::vector<std::string>& scalar_names,
                                   const NamedTensors& state);

}  // namespace attn
