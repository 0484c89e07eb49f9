#include "layers/linear.h"

#include <cmath>

#include "framework/core/error.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/matmul.h"

namespace attn {

Linear::Linear(ParamStore& store, const std::string& name, int64_t in, int64_t out, bool bias,
               double init_std, const LoraOptions& lora) {
  weight_ = store.declare(name + ".weight", {out, in}, ParamInit::normal(init_std));
  if (bias) bias_ = store.declare(name + ".bias", {out}, ParamInit::zeros(), false);
  if (!lora.enabled()) return;
  ATTN_CHECK(lora.rank > 0 && lora.alpha > 0, "LoRA on '{}': rank {} and alpha {} must be > 0",
             name, lora.rank, lora.alpha);
  ATTN_CHECK(lora.store->device() == store.device() && lora.store->dtype() == store.dtype(),
             "LoRA on '{}': the adapter store must match the layer's device and dtype", name);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  lora_a_ =
      lora.store->declare(name + ".lora_a", {lora.rank, in}, ParamInit::uniform(-bound, bound));
  lora_b_ = lora.store->declare(name + ".lora_b", {out, lora.rank}, ParamInit::zeros());
  lora_scale_ = lora.alpha / static_cast<double>(lora.rank);
}

Tensor Linear::operator()(const Tensor& x) const {
  Tensor y = project(x);
  return bias_.defined() ? add_bias(y, bias_) : y;
}

Tensor Linear::project(const Tensor& x) const {
  Tensor y = matmul(x, weight_, false, true);
  if (!lora_a_.defined()) return y;
  // The scale goes on the [tokens, rank] intermediate, the smallest tensor of the branch.
  const Tensor h = scale(matmul(x, lora_a_, false, true), lora_scale_);
  return add(y, matmul(h, lora_b_, false, true));
}

}  // namespace attn
