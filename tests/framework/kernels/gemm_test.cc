// The tiled CPU matrix product: the tiling covers the output exactly and depends on the shape
// alone; every tiled product (transposes, row strides, accumulation, k = 0) matches plain loops.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "framework/core/threads.h"
#include "framework/kernels/cpu/gemm.h"

namespace attn {
namespace {

TEST(GemmTiling, CoversTheOutputWithFewLargeTiles) {
  for (int64_t m : {1, 15, 64, 300, 1024, 4096, 20000})
    for (int64_t n : {1, 17, 128, 768, 2304, 50257})
      for (int64_t k : {0, 1, 64, 768, 4096}) {
        SCOPED_TRACE(testing::Message() << m << "x" << n << "x" << k);
        const cpu::GemmTiling g = cpu::gemm_tiling(m, n, k);
        EXPECT_GE(g.rows * g.tile_m, m);
        EXPECT_LT((g.rows - 1) * g.tile_m, m);
        EXPECT_GE(g.cols * g.tile_n, n);
        EXPECT_LT((g.cols - 1) * g.tile_n, n);
        EXPECT_LE(g.count(), 16);
        if (g.rows > 1) EXPECT_EQ(g.tile_m % 16, 0);
        if (g.cols > 1) EXPECT_EQ(g.tile_n % 16, 0);
        // k = 0 still writes beta * C, tiled as if k were 1.
        if (g.count() > 1)
          EXPECT_GE(g.tile_m * g.tile_n * std::max<int64_t>(k, 1), int64_t(1) << 23);
      }
  // Big products are cut for many threads; small ones stay whole.
  EXPECT_GE(cpu::gemm_tiling(4096, 4096, 4096).count(), 8);
  EXPECT_EQ(cpu::gemm_tiling(64, 64, 64).count(), 1);
}

void naive(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
           int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p)
        s += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
      c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]);
    }
}

TEST(GemmTiled, MatchesPlainLoopsAcrossTiles) {
  std::mt19937 rng(5);
  std::normal_distribution<double> normal;
  const int saved = num_threads();
  set_num_threads(2);
  // Shapes big enough to be tiled (several row and column panels), with padded row strides.
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{700, 300, 200},
                         {96, 1100, 300},
                         {520, 520, 64},
                         {33, 45, 0}}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (double beta : {0.0, 1.0}) {
          SCOPED_TRACE(testing::Message() << m << "x" << n << "x" << k << " ta " << ta << " tb "
                                          << tb << " beta " << beta);
          const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 7;
          std::vector<double> a((ta ? k : m) * lda), b((tb ? n : k) * ldb), c(m * ldc);
          for (auto* v : {&a, &b, &c})
            for (double& x : *v) x = normal(rng);
          std::vector<double> want = c;
          naive(ta, tb, m, n, k, 0.5, a.data(), lda, b.data(), ldb, beta, want.data(), ldc);
          cpu::gemm_strided<double>(ta, tb, m, n, k, 0.5, a.data(), lda, b.data(), ldb, beta,
                                    c.data(), ldc);
          double worst = 0;
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < ldc; ++j) {
              const double d = std::abs(c[i * ldc + j] - want[i * ldc + j]);
              worst = std::max(worst, j < n ? d : d * 1e12);  // padding must stay untouched
            }
          EXPECT_LT(worst, 1e-10);
        }
  }
  set_num_threads(saved);
}

}  // namespace
}  // namespace attn
