// All parameters of a model in one flat buffer, their gradients in a second one of the same
// layout, and optimizer state buffers on demand: zeroing, all-reduce, sharding and checkpoints
// each become one call over a contiguous range. A parameter is a named view into the buffer.
#pragma once

#include <string>
#include <vector>

#include "framework/core/tensor.h"

namespace attn {

// How a parameter is filled by ParamStore::initialize(). Values depend only on (seed, index).
struct ParamInit {
  enum class Kind { kZeros, kOnes, kConstant, kNormal, kUniform };
  Kind kind = Kind::kNormal;
  double a = 0.0;   // normal: mean; uniform: low; constant: value
  double b = 0.02;  // normal: std; uniform: high

  static ParamInit zeros() { return {Kind::kZeros, 0, 0}; }
  static ParamInit ones() { return {Kind::kOnes, 0, 0}; }
  static ParamInit constant(double v) { return {Kind::kConstant, v, 0}; }
  static ParamInit normal(double std, double mean = 0.0) { return {Kind::kNormal, mean, std}; }
  static ParamInit uniform(double low, double high) { return {Kind::kUniform, low, high}; }
};

struct ParamInfo {
  std::string name;
  Tensor tensor;       // view into the flat parameter buffer (after finalize)
  int64_t offset = 0;  // in elements, within the flat buffer
  ParamInit init;
  bool weight_decay = true;  // false for norms, biases and embeddings by convention of layers
  // false for buffers: state saved with the model (e.g. a moving average) that the layer updates
  // itself; no gradient flows into it and optimizers leave it unchanged.
  bool trainable = true;
  // Frozen by the run (train.freeze): kept at its loaded value, no gradient, no weight decay.
  // Still a parameter (checkpointed, not averaged like a buffer).
  bool frozen = false;
  bool updated() const { return trainable && !frozen; }  // what optimizers change
};

class ParamStore {
 public:
  // Parameter starts are aligned to this many elements (64 bytes for f32).
  static constexpr int64_t kAlign = 16;

  explicit ParamStore(DType dtype = DType::kF32, Device device = Device::cpu());

  // Declares a parameter. The returned tensor has no memory until finalize(); keep the handle,
  // it becomes a live view of the flat buffer then. Names must be unique.
  Tensor declare(const std::string& name, const Shape& shape, ParamInit init = {},
                 bool weight_decay = true);
  // Declares a buffer: laid out, initialised and checkpointed like a parameter, never trained.
  Tensor declare_buffer(const std::string& name, const Shape& shape, ParamInit init = {});

  // Lays out all declared parameters, allocates the flat buffers (zero-filled) and pads the
  // total to a multiple of `pad_multiple` elements (64 by default; pass lcm(64, world size)).
  void finalize(int64_t pad_multiple = 64);
  bool finalized() const { return finalized_; }

  // Fills every parameter according to its ParamInit; parameter i uses RNG stream (seed, i).
  void initialize(uint64_t seed);

  void zero_grad();
  // A new zero-filled buffer with the flat layout (optimizer moments, master weights, ...).
  Tensor new_state_buffer() const;

  // Freezes parameter `name` (throws if absent or a buffer): it stops requiring a gradient, and
  // optimizers leave it unchanged (zero gradient, no weight decay).
  void freeze(const std::string& name);

  const std::vector<ParamInfo>& params() const { return params_; }
  const ParamInfo& find(const std::string& name) const;  // throws if absent
  Tensor flat_params() const { return flat_params_; }    // [padded_size]
  Tensor flat_grads() const { return flat_grads_; }      // [padded_size]
  int64_t num_elements() const { return used_; }         // without alignment gaps and padding
  int64_t num_trainable() const;  // num_elements() without buffers and frozen parameters
  int64_t padded_size() const { return padded_; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }

 private:
  DType dtype_;
  Device device_;
  bool finalized_ = false;
  std::vector<ParamInfo> params_;
  Tensor flat_params_, flat_grads_;
  int64_t used_ = 0, padded_ = 0;
};

// Switches off requires_grad of every parameter `store` updates (not frozen, not a buffer) for
// its lifetime, so a backward reaches other weights only and the ops over these record nothing.
class ParamGradsOff {
 public:
  explicit ParamGradsOff(const ParamStore& store);
  ~ParamGradsOff();
  ParamGradsOff(const ParamGradsOff&) = delete;
  ParamGradsOff& operator=(const ParamGradsOff&) = delete;

 private:
  std::vector<Tensor> params_;
};

}  // namespace attn
