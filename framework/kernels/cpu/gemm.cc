#include "framework/kernels/cpu/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>

namespace attn::cpu {

namespace {

// The rules below were measured with OpenBLAS 0.3.21 on 2-core machines (SkylakeX and Haswell
// kernels). Each tile packs its own share of A and all of its columns of op(B) again (OpenBLAS's
// own threads share one packed B), so small tiles lose against one whole-matrix call. A product
// is cut into at most 4 tiles of at least 8M multiply-adds: 2 per thread on 2 cores. Only tall
// products (many tokens) go further, in row panels of at least 512 rows, up to 16 panels of at
// least 128M multiply-adds each, for machines with more cores.
constexpr int64_t kFewTiles = 4, kFewTileMacs = int64_t(1) << 23;
constexpr int64_t kManyTiles = 16, kManyTileMacs = int64_t(1) << 27, kManyTileRows = 512;
constexpr int64_t kPanelSide = 256;   // preferred: split rows, then columns, down to this
constexpr int64_t kMinTileSide = 64;  // otherwise: halve the longer side, down to this
// Tile sides stay multiples of 16, which every x86 sgemm/dgemm micro-kernel width divides.
constexpr int64_t kTileQuantum = 16;

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

int64_t half_side(int64_t side) {
  return ceil_div(ceil_div(side, 2), kTileQuantum) * kTileQuantum;
}

void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha,
               const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, double alpha,
               const double* a, int lda, const double* b, int ldb, double beta, double* c,
               int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// One product on a single thread. OpenBLAS's OpenMP build threads a call only when the caller's
// omp_get_max_threads() is above 1 and no parallel region is active; inside the team's region it
// is already serial, and outside it the calling thread's thread-count setting is lowered to 1
// for the call (a per-thread setting: nothing else sees it).
template <typename T>
void serial_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                 int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (k == 0) {  // BLAS skips the update for k = 0 only when beta = 1; make every case explicit.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  const int saved = omp_in_parallel() ? 0 : omp_get_max_threads();
  if (saved > 1) omp_set_num_threads(1);
  blas_gemm(trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
            static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
            static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
  if (saved > 1) omp_set_num_threads(saved);
}

// Tile t of a product tiled as `g`: the same single-threaded call whatever thread runs it.
template <typename T>
void gemm_tile(const GemmTiling& g, int64_t t, bool trans_a, bool trans_b, int64_t m, int64_t n,
               int64_t k, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c,
               int64_t ldc) {
  const int64_t i0 = (t / g.cols) * g.tile_m, j0 = (t % g.cols) * g.tile_n;
  const int64_t mt = std::min(g.tile_m, m - i0), nt = std::min(g.tile_n, n - j0);
  const T* at = trans_a ? a + i0 : a + i0 * lda;  // rows i0.. of op(A)
  const T* bt = trans_b ? b + j0 * ldb : b + j0;  // columns j0.. of op(B)
  serial_gemm(trans_a, trans_b, mt, nt, k, alpha, at, lda, bt, ldb, beta, c + i0 * ldc + j0, ldc);
}

// Runs f(i) for the `n` tiles over the team; tiles write disjoint outputs, so the schedule
// cannot change a result. Nested inside another parallel region the tiles run in order.
template <typename F>
void for_each_tile(int64_t n, F&& f) {
  if (n == 1 || omp_in_parallel() || omp_get_max_threads() == 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace

GemmTiling gemm_tiling(int64_t m, int64_t n, int64_t k) {
  int64_t tm = std::max<int64_t>(m, 1), tn = std::max<int64_t>(n, 1);
  const int64_t kk = std::max<int64_t>(k, 1);
  for (;;) {
    // Row panels first (contiguous in A and C), then column panels, then the longer side.
    bool split_m;
    if (half_side(tm) >= kPanelSide)
      split_m = true;
    else if (half_side(tn) >= kPanelSide)
      split_m = false;
    else if (half_side(std::max(tm, tn)) >= kMinTileSide)
      split_m = tm >= tn;
    else
      break;
    const int64_t new_m = split_m ? half_side(tm) : tm, new_n = split_m ? tn : half_side(tn);
    const int64_t tiles = ceil_div(m, new_m) * ceil_div(n, new_n), macs = new_m * new_n * kk;
    if (!(tiles <= kFewTiles && macs >= kFewTileMacs) &&
        !(split_m && new_m >= kManyTileRows && tiles <= kManyTiles && macs >= kManyTileMacs))
      break;
    tm = new_m, tn = new_n;
  }
  return {tm, tn, ceil_div(m, tm), ceil_div(n, tn)};
}

template <typename T>
void gemm_strided(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                  int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  const GemmTiling g = gemm_tiling(m, n, k);
  for_each_tile(g.count(), [&](int64_t t) {
    gemm_tile(g, t, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  });
}

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          const T* b, T beta, T* c) {
  gemm_strided(trans_a, trans_b, m, n, k, alpha, a, trans_a ? m : k, b, trans_b ? k : n, beta, c,
               n);
}

template <typename T>
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                  T alpha, const T* a, int64_t stride_a, const T* b, int64_t stride_b, T beta, T* c,
                  int64_t stride_c) {
  if (batch == 0 || m == 0 || n == 0) return;
  const GemmTiling g = gemm_tiling(m, n, k);
  const int64_t lda = trans_a ? m : k, ldb = trans_b ? k : n;
  for_each_tile(batch * g.count(), [&](int64_t t) {
    const int64_t i = t / g.count();
    gemm_tile(g, t % g.count(), trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda,
              b + i * stride_b, ldb, beta, c + i * stride_c, n);
  });
}

#define ATTN_INSTANTIATE(T)                                                                   \
  template void gemm_strided<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t,  \
                                const T*, int64_t, T, T*, int64_t);                           \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, const T*, T, T*); \
  template void gemm_batched<T>(int64_t, bool, bool, int64_t, int64_t, int64_t, T, const T*,  \
                                int64_t, const T*, int64_t, T, T*, int64_t);
ATTN_INSTANTIATE(float)
ATTN_INSTANTIATE(double)
#undef ATTN_INSTANTIATE

}  // namespace attn::cpu
