// Fused optimizer updates on the GPU (f32): one pass over a flat range of parameters, gradients
// and state, mirroring the CPU loops in optim/adamw.cc and optim/sgd.cc element for element.
#pragma once

#include <cstdint>

namespace attn::cuda {

struct AdamWStep {
  float beta1 = 0, beta2 = 0, eps = 0;
  float decay = 0;         // lr * weight_decay, applied where decay_mask is 1
  float step_size = 0;     // lr / (1 - beta1^t)
  float inv_bc2_sqrt = 0;  // 1 / sqrt(1 - beta2^t)
};

void adamw_step(const AdamWStep& s, float* params, const float* grads, float* m, float* v,
                const float* decay_mask, int64_t n);

// velocity may be null (no momentum).
void sgd_step(float lr, float momentum, float weight_decay, float* params, const float* grads,
              float* velocity, const float* decay_mask, int64_t n);

// sum_i x_i^2 in double, with a fixed partition (the same bits on every run and every GPU).
double sum_squares(const float* x, int64_t n);

}  // namespace attn::cuda
