// Linear layer y = x W^T + b with W [out, in] (PyTorch's layout, so checkpoints map 1:1), with an
// optional LoRA adapter: y += (alpha / rank) * (x A^T) B^T, A [rank, in], B [out, rank].
// Parameters are declared in a ParamStore; the layer holds views, never owns memory.
#pragma once

#include <string>

#include "framework/core/param_store.h"

namespace attn {

// A low-rank adapter (Hu et al., LoRA): A uniform(+-1/sqrt(in)), B = 0, so a fresh adapter
// leaves the layer's output unchanged. The adapter's tensors "<name>.lora_a|lora_b" live in
// `store`: the model's own (plain LoRA fine-tuning, checkpointed with it) or a separate one
// (FocuSFT's fast weights, never checkpointed).
struct LoraOptions {
  ParamStore* store = nullptr;  // null: no adapter
  int64_t rank = 0;
  double alpha = 0;
  bool enabled() const { return store != nullptr; }
};

class Linear {
 public:
  Linear(ParamStore& store, const std::string& name, int64_t in, int64_t out, bool bias = true,
         double init_std = 0.02, const LoraOptions& lora = {});
  // x [..., in] -> [..., out]
  Tensor operator()(const Tensor& x) const;
  // x W^T (plus the adapter) without the bias, for a caller that fuses the bias into its next op
  // (bias_gelu).
  Tensor project(const Tensor& x) const;

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Tensor& lora_a() const { return lora_a_; }  // undefined without an adapter
  const Tensor& lora_b() const { return lora_b_; }

 private:
  Tensor weight_;  // [out, in]
  Tensor bias_;    // [out] or undefined
  Tensor lora_a_;  // [rank, in] or undefined
  Tensor lora_b_;  // [out, rank] or undefined
  double lora_scale_ = 0;
};

}  // namespace attn
