// MoH's routed gates (SPEC-attention section 6) as one differentiable op: per row of the router
// probabilities p [rows, routed heads], g = k p m / sum(p m) with m the row's top-k indicator
// (ties: the lower index; a constant). Kernels: layers/attention/kernels/topk_gates.h.
#pragma once

#include "framework/core/tensor.h"

namespace attn {

struct TopkGates {
  Tensor gates;     // [rows, cols], differentiable in p
  Tensor fraction;  // [cols], the fraction of rows whose top-k holds each column (a constant)
};

// p [rows, cols] with positive entries (a softmax), 1 <= k <= cols; f32 on CUDA.
TopkGates topk_gates(const Tensor& p, int64_t k);

}  // namespace attn
