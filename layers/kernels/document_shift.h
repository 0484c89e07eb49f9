// Shifting packed sequences inside their documents: y[t] = x[t - s] when t - s lies in t's
// document, else 0 (the zero padding of a causal convolution or pooling that must not see the
// previous document). Rows of `cols` values; cu [docs + 1] document boundaries. CPU kernels for
// any float type, CUDA for f32 (device pointers).
#pragma once

#include <cstdint>

namespace attn {

namespace cpu {

// y = shift(x, s).
template <typename T>
void document_shift(const T* x, const int32_t* cu, int64_t docs, int64_t cols, int64_t s, T* y);

// dx += the adjoint: dx[t] += dy[t + s] when t + s lies in t's document.
template <typename T>
void document_shift_backward(const T* dy, const int32_t* cu, int64_t docs, int64_t cols, int64_t s,
                             T* dx);

}  // namespace cpu

namespace cuda {

void document_shift(const float* x, const int32_t* cu, int64_t docs, int64_t tokens, int64_t cols,
                    int64_t s, float* y);
void document_shift_backward(const float* dy, const int32_t* cu, int64_t docs, int64_t tokens,
                             int64_t cols, int64_t s, float* dx);

}  // namespace cuda

}  // namespace attn
