// CUDA sums along one axis of an array viewed as [outer, n, inner], and the matching broadcast
// (f32), mirroring framework/kernels/cpu/reduce.h. Pointers are device pointers.
#pragma once

#include <cstdint>

namespace attn::cuda {

// Floats of device scratch sum_axis needs for this shape; 0 when it needs none.
int64_t sum_axis_scratch(int64_t outer, int64_t n, int64_t inner);

// out[o, i] (= or +=) alpha * sum_r x[o, r, i]. Deterministic without atomics: the first pass
// sums fixed chunks of r (a block tree for rows, inner == 1; serial per thread for columns)
// into `scratch`, the second sums the chunk partials in order. The chunking depends only on
// the shape. scratch: sum_axis_scratch(outer, n, inner) floats (null when that is 0).
void sum_axis(float* out, const float* x, int64_t outer, int64_t n, int64_t inner, float alpha,
              bool accumulate, float* scratch);

// dx[o, r, i] += alpha * dout[o, i]
void broadcast_axis_accumulate(float* dx, const float* dout, int64_t outer, int64_t n,
                               int64_t inner, float alpha);

}  // namespace attn::cuda
