// Kernels of MoH's routed gates (SPEC-attention section 6) over raw pointers, per row of p
// [rows, cols] (a softmax over the routed heads, so every entry is > 0):
//   m = top-k indicator of the row (ties: the lower index wins; a constant of the op)
//   g = k p m / S,  S = sum_c p_c m_c
// and the fraction of rows whose top-k holds each column. CPU kernels (any float type, S in
// double, bit-identical for any thread count) and CUDA kernels (f32, device pointers).
#pragma once

#include <cstdint>

namespace attn {

namespace cpu {

// g [rows, cols] and the mask m [rows, cols] (i32 0/1).
template <typename T>
void topk_gates_forward(const T* p, int64_t rows, int64_t cols, int64_t k, T* g, int32_t* mask);

// dp += m (k / S) (dg - sum_e dg_e g_e / k), S recomputed from p and m.
template <typename T>
void topk_gates_backward(const T* p, const int32_t* mask, const T* g, const T* dg, int64_t rows,
                         int64_t cols, int64_t k, T* dp);

// fraction[c] = (number of rows with m_c = 1) / rows, divided in double.
template <typename T>
void topk_fraction(const int32_t* mask, int64_t rows, int64_t cols, T* fraction);

}  // namespace cpu

namespace cuda {

void topk_gates_forward(const float* p, int64_t rows, int64_t cols, int64_t k, float* g,
                        int32_t* mask);
void topk_gates_backward(const float* p, const int32_t* mask, const float* g, const float* dg,
                         int64_t rows, int64_t cols, int64_t k, float* dp);
void topk_fraction(const int32_t* mask, int64_t rows, int64_t cols, float* fraction);

}  // namespace cuda

}  // namespace attn
