// CUDA strided block copies and batched transposes behind slice, concat, split and
// transpose_last2, mirroring framework/kernels/cpu/copy.h. Device pointers, on the compute stream.
#pragma once

#include <cstdint>

namespace attn::cuda {

// For o in [0, outer): dst[o * dst_stride + j] (= or +=) src[o * src_stride + j], j < len.
void copy_blocks(float* dst, int64_t dst_stride, const float* src, int64_t src_stride,
                 int64_t outer, int64_t len, bool accumulate);

// out[b, c, r] (= or +=) x[b, r, c] for x [batch, rows, cols].
void transpose_last2(float* out, const float* x, int64_t batch, int64_t rows, int64_t cols,
                     bool accumulate);

// The same movements (never accumulating) for elements of any dtype given its size in bytes
// (2, 4 or 8): the forward of shape ops on bf16 and index tensors. Strides count elements.
void copy_blocks_raw(void* dst, int64_t dst_stride, const void* src, int64_t src_stride,
                     int64_t outer, int64_t len, int64_t elem_bytes);
void transpose_last2_raw(void* out, const void* x, int64_t batch, int64_t rows, int64_t cols,
                         int64_t elem_bytes);

}  // namespace attn::cuda
