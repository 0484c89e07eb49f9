// Matrix products on row-major contiguous arrays via CBLAS (OpenBLAS, OpenMP build).
// C = alpha * op(A) op(B) + beta * C with op(A) [m, k], op(B) [k, n]; beta = 1 accumulates.
//
// Bit-identical for any thread count: OpenBLAS's own threading splits the output at positions
// that depend on the thread count, and its kernels sum an element in a different order depending
// on where it falls in a micro-tile (and on the core type and cache sizes it picked). So attnlab
// never lets BLAS thread: C is cut into tiles chosen from (m, n, k) alone, each tile is one
// single-threaded BLAS call, and the tiles are spread over the OpenMP team.
#pragma once

#include <cstdint>

namespace attn::cpu {

// The output tiling of one [m, n] product with inner size k: tiles of tile_m rows and tile_n
// columns (the last row / column of tiles may be smaller). A function of the shape only.
struct GemmTiling {
  int64_t tile_m, tile_n;
  int64_t rows, cols;  // number of tile rows and tile columns
  int64_t count() const { return rows * cols; }
};
GemmTiling gemm_tiling(int64_t m, int64_t n, int64_t k);

// A is [m, k] (trans_a: [k, m]); B is [k, n] (trans_b: [n, k]); C is [m, n].
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          const T* b, T beta, T* c);

// As gemm, with explicit leading dimensions (row strides) so strided views such as one head of a
// [tokens, heads, dim] array are multiplied in place.
template <typename T>
void gemm_strided(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                  int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// `batch` independent products; a stride of 0 reuses one A or B for every batch entry (never C:
// the products' tiles run concurrently). The tiles of all products form one pool of work.
template <typename T>
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                  T alpha, const T* a, int64_t stride_a, const T* b, int64_t stride_b, T beta, T* c,
                  int64_t stride_c);

}  // namespace attn::cpu
