// The optimizer interface the trainer sees: one step over the flat buffers of a ParamStore, a
// settable learning rate, and named state tensors for checkpoints (per parameter, layout-free).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "framework/core/param_store.h"

namespace attn {

// Which parameters get weight decay. kByParam follows ParamInfo::weight_decay (layers switch it
// off for norms, biases and embeddings); kAll decays everything (the B1 benchmark's peer does).
enum class DecayPolicy { kByParam, kAll };

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  virtual void set_lr(double lr) = 0;
  // Checkpoint state: tensors named "<state>.<param name>" (views, no copies) plus scalars that
  // are stored as 0-d f64 tensors. load_state() copies values in; a missing or mis-shaped entry
  // is an error naming it.
  virtual std::vector<std::pair<std::string, Tensor>> state() const = 0;
  virtual void load_state(const std::vector<std::pair<std::string, Tensor>>& state) = 0;
};

// A flat buffer with 1 where weight decay applies and 0 elsewhere (padding and gaps included).
Tensor weight_decay_mask(const ParamStore& store, DecayPolicy policy);

// Per-parameter views of a flat state buffer, named "<prefix>.<param name>".
std::vector<std::pair<std::string, Tensor>> per_param_views(const ParamStore& store,
                                                            const Tensor& flat,
                                                            const std::string& prefix);

// Throws (kInput, naming the tensor) unless `state` has "<prefix>.<name>" of the right shape for
// every parameter. Optimizers check all their prefixes before copying anything.
void check_per_param_views(const ParamStore& store, const std::string& prefix,
                           const std::vector<std::pair<std::string, Tensor>>& state);

// Copies named tensors into the flat buffer through per_param_views (checked first).
void load_per_param_views(const ParamStore& store, Tensor& flat, const std::string& prefix,
                          const std::vector<std::pair<std::string, Tensor>>& state);

}  // namespace attn
