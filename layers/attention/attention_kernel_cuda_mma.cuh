// Device helpers of the bf16 tensor-core attention kernels (forward and backward): the mma.sync
// m16n8k16 wrapper, fragment loads from padded shared tiles, bf16 packing and quad reductions.
#pragma once

#include <cuda_bf16.h>

#include <climits>
#include <cstdint>
#include <cstring>

#include "layers/attention/attention_kernel_cuda.h"

namespace attn::cuda::attention {

// 64 query rows per block, 16 per warp; key/value tiles of 64 keys.
constexpr int kMmaWarps = 4, kMmaThreads = 32 * kMmaWarps, kMmaBq = 16 * kMmaWarps, kMmaBk = 64;
// Shared rows are padded by 8 bf16 (16 bytes): a row is then 4 banks (mod 32) after the previous
// one, so the 8 rows x 4 words a quad-structured fragment load touches hit 32 distinct banks
// (32-bit loads at row g, word tig; 16-bit loads at rows 2 tig (+1), column g).
constexpr int kPad = 8;

// Fragment layouts of mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (PTX ISA, "Matrix
// fragments for mma.m16n8k16"); lane t, g = t / 4 (groupID), tig = t % 4 (thread in group).
// Each 32-bit register holds two bf16, the lower column/row index in the low half.
//   A (16 x 16, row-major), 4 registers: a[0] = A(g, 2tig..2tig+1), a[1] = A(g+8, 2tig..),
//     a[2] = A(g, 2tig+8..), a[3] = A(g+8, 2tig+8..).
//   B (16 x 8, "col": indexed [k][n]), 2 registers: b[0] = B(k = 2tig..2tig+1, n = g),
//     b[1] = B(k = 2tig+8..2tig+9, n = g).
//   C/D (16 x 8, f32), 4 registers: c[0..1] = C(g, 2tig..2tig+1), c[2..3] = C(g+8, 2tig..).
// Two adjacent C tiles (columns 8j .. 8j + 15) are exactly one A fragment over those 16 columns:
// a[0] = tile 2j (c0, c1), a[1] = tile 2j (c2, c3), a[2] = tile 2j+1 (c0, c1), a[3] = tile 2j+1
// (c2, c3); so a product's result feeds the next product without leaving registers (pack_a).
__device__ inline void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();  // never launched: the host wrappers check compute capability 8.0
#endif
}

__device__ inline uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (low half) = lo
  uint32_t u;
  memcpy(&u, &v, sizeof(u));
  return u;
}

__device__ inline uint32_t pack_u16(uint16_t lo, uint16_t hi) {
  return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
}

// The A fragment (rounded to bf16) over the 16 columns of the C tiles c0 (first 8) and c1.
__device__ inline void pack_a(uint32_t (&a)[4], const float (&c0)[4], const float (&c1)[4]) {
  a[0] = pack_bf16(c0[0], c0[1]);
  a[1] = pack_bf16(c0[2], c0[3]);
  a[2] = pack_bf16(c1[0], c1[1]);
  a[3] = pack_bf16(c1[2], c1[3]);
}

// Fragment loads from a shared [rows][ld] bf16 tile t (ld = D + kPad). With g, tig of the lane:
// A(m, k) = t(r0 + m, c0 + k): 32-bit loads of two adjacent columns.
__device__ inline void load_a(uint32_t (&a)[4], const uint16_t* t, int ld, int r0, int c0) {
  const int lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4;
  const uint16_t* p = t + (r0 + g) * ld + c0 + 2 * tig;
  a[0] = *reinterpret_cast<const uint32_t*>(p);
  a[1] = *reinterpret_cast<const uint32_t*>(p + 8 * ld);
  a[2] = *reinterpret_cast<const uint32_t*>(p + 8);
  a[3] = *reinterpret_cast<const uint32_t*>(p + 8 * ld + 8);
}

// B(k, n) = t(r0 + n, c0 + k), the transpose of a row-major tile (K in S = Q K^T): 32-bit loads.
__device__ inline void load_b_trans(uint32_t& b0, uint32_t& b1, const uint16_t* t, int ld, int r0,
                                    int c0) {
  const int lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4;
  const uint16_t* p = t + (r0 + g) * ld + c0 + 2 * tig;
  b0 = *reinterpret_cast<const uint32_t*>(p);
  b1 = *reinterpret_cast<const uint32_t*>(p + 8);
}

// B(k, n) = t(r0 + k, c0 + n), the tile itself (V in O = P V): 16-bit loads of rows 2tig (+1, +8,
// +9), column g.
__device__ inline void load_b(uint32_t& b0, uint32_t& b1, const uint16_t* t, int ld, int r0,
                              int c0) {
  const int lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4;
  const uint16_t* p = t + (r0 + 2 * tig) * ld + c0 + g;
  b0 = pack_u16(p[0], p[ld]);
  b1 = pack_u16(p[8 * ld], p[9 * ld]);
}

// Max / sum over the 4 lanes of a quad (the lanes holding one C row).
__device__ inline float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ inline float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// Rows [0, n) of a [64][D] tile (K, V, or Q, dO in the backward) from global rows src + r * src_ld
// into dst[r][ld], zero rows past n (they meet P = 0 or dS = 0, and 0 * garbage could be NaN).
// 16-byte copies: the wrappers check the alignment of the base pointers, and src_ld and D are
// multiples of 8 elements.
template <int D>
__device__ inline void load_tile_bf16(uint16_t* dst, const uint16_t* src, int64_t src_ld, int n) {
  static_assert(kMmaBq == kMmaBk, "one tile loader for row and key tiles");
  constexpr int ld = D + kPad, chunks = D / 8;
  for (int e = threadIdx.x; e < kMmaBk * chunks; e += kMmaThreads) {
    const int r = e / chunks, c = (e % chunks) * 8;
    uint4 x = make_uint4(0, 0, 0, 0);
    if (r < n) x = *reinterpret_cast<const uint4*>(src + r * src_ld + c);
    *reinterpret_cast<uint4*>(dst + r * ld + c) = x;
  }
}

}  // namespace attn::cuda::attention
