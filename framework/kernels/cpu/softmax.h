// Softmax and log-softmax along the last axis of a [rows, cols] array, max-subtracted for
// stability. One row per task: results never depend on the thread count.
#pragma once

#include <cstdint>

namespace attn::cpu {

// y = softmax(x) or log_softmax(x), row by row.
template <typename T>
void softmax_forward(T* y, const T* x, int64_t rows, int64_t cols, bool log);

// softmax:     dx += y * (dy - <dy, y>)
// log_softmax: dx += dy - exp(y) * sum(dy)
template <typename T>
void softmax_backward(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log);

}  // namespace attn::cpu
