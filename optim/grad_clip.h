// Global gradient-norm clipping over the flat gradient buffer: one deterministic reduction
// (fixed chunks, combined in order, accumulated in double) and one scaling pass.
#pragma once

#include "framework/core/param_store.h"
#include "optim/optimizer.h"

namespace attn {

// L2 norm of all gradients (padding is zero and does not count).
double grad_norm(const ParamStore& store);

// Scales gradients by min(1, max_norm / (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_ does;
// max_norm <= 0 only measures. Returns the norm before clipping.
double clip_grad_norm(ParamStore& store, double max_norm);

// The pieces, for gradients spread over ranks (ZeRO-1): the sum of squares of one range, and
// clipping of one range given the global norm.
double grad_sum_squares(const ParamStore& store, FlatRange range);
void clip_grads_to(ParamStore& store, FlatRange range, double norm, double max_norm);

}  // namespace attn
