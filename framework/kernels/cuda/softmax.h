// CUDA softmax and log-softmax along the last axis of a [rows, cols] array (f32, device pointers),
// mirroring framework/kernels/cpu/softmax.h: same names, same argument order, max-subtracted.
#pragma once

#include <cstdint>

namespace attn::cuda {

// y = softmax(x) or log_softmax(x), row by row. y may alias x.
void softmax_forward(float* y, const float* x, int64_t rows, int64_t cols, bool log);

// softmax:     dx += y * (dy - <dy, y>)
// log_softmax: dx += dy - exp(y) * sum(dy)
void softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols,
                      bool log);

}  // namespace attn::cuda
