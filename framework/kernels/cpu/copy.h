// Strided block copies behind slice, concat, split and transpose: plain data movement on
// any element type, with an accumulating variant for backward passes.
#pragma once

#include <cstdint>

namespace attn::cpu {

// For o in [0, outer): dst[o * dst_stride + j] (= or +=) src[o * src_stride + j], j < len.
template <typename T>
void copy_blocks(T* dst, int64_t dst_stride, const T* src, int64_t src_stride, int64_t outer,
                 int64_t len, bool accumulate);

// out[b, c, r] (= or +=) x[b, r, c] for x [batch, rows, cols].
template <typename T>
void transpose_last2(T* out, const T* x, int64_t batch, int64_t rows, int64_t cols,
                     bool accumulate);

}  // namespace attn::cpu
