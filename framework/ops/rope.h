// Differentiable rotary position embedding on [tokens, heads, dim] with explicit per-token
// positions, so packed documents each restart at position 0. Angle: pos * base^(-2i/dim).
#pragma once

#include "framework/core/tensor.h"
#include "framework/kernels/kinds.h"

namespace attn {

struct RopeOptions {
  double base = 10000.0;
  RopePairing pairing = RopePairing::kHalf;  // (i, i + dim/2), as Llama/HF checkpoints
};

// x [tokens, heads, dim] (dim even); positions i32 [tokens].
Tensor rope(const Tensor& x, const Tensor& positions, const RopeOptions& options = {});

}  // namespace attn
