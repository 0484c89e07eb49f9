// Matrix products on row-major contiguous arrays via CBLAS (OpenBLAS, OpenMP build).
// C = alpha * op(A) op(B) + beta * C with op(A) [m, k], op(B) [k, n]; beta = 1 accumulates.
#pragma once

#include <cstdint>

namespace attn::cpu {

// A is [m, k] (trans_a: [k, m]); B is [k, n] (trans_b: [n, k]); C is [m, n].
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          const T* b, T beta, T* c);

// As gemm, with explicit leading dimensions (row strides) so strided views such as one head of a
// [tokens, heads, dim] array are multiplied in place.
template <typename T>
void gemm_strided(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                  int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// `batch` independent products; a stride of 0 reuses one matrix for every batch entry.
// Small products run one per thread; large ones use BLAS's own threading, one after another.
template <typename T>
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                  T alpha, const T* a, int64_t stride_a, const T* b, int64_t stride_b, T beta, T* c,
                  int64_t stride_c);

}  // namespace attn::cpu
