// The tile primitives of the CPU core-attention kernel, shared with the kernels that recompute
// its probabilities (the fused attention losses): documents, a row block's key range, scored and
// masked tiles, probabilities from a saved lse. tile_scores is the one place that interprets
// masks, so every kernel sees exactly the same visible entries.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "framework/kernels/cpu/fast_math.h"
#include "framework/kernels/cpu/gemm.h"
#include "layers/attention/attention_problem.h"

namespace attn::cpu {

template <typename T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();
template <typename T>
constexpr T kInf = std::numeric_limits<T>::infinity();

struct Doc {
  int64_t q0, q1, k0, k1;  // global token ranges of the document's queries and keys
};

inline std::vector<Doc> documents(const int32_t* cu_q, const int32_t* cu_k, int64_t docs) {
  std::vector<Doc> out(docs);
  for (int64_t i = 0; i < docs; ++i) out[i] = {cu_q[i], cu_q[i + 1], cu_k[i], cu_k[i + 1]};
  return out;
}

// Smallest lo and largest hi over the non-empty rows of [i0, i1); hi < lo when all are empty.
template <typename T>
void rows_key_range(const AttentionProblem<T>& p, int64_t i0, int64_t i1, int64_t& lo,
                    int64_t& hi) {
  lo = std::numeric_limits<int64_t>::max();
  hi = -1;
  for (int64_t i = i0; i < i1; ++i) {
    if (p.row_lo[i] > p.row_hi[i]) continue;
    lo = std::min<int64_t>(lo, p.row_lo[i]);
    hi = std::max<int64_t>(hi, p.row_hi[i]);
  }
}

// s [i1 - i0, j1 - j0] = scale * Q K^T for query rows [i0, i1) of head h against keys [j0, j1)
// of kv head g (global indices), with entries the rows may not see set to -inf. Returns false
// when no entry is visible. This is the one place that interprets masks.
template <typename T>
bool tile_scores(const AttentionProblem<T>& p, const Doc& doc, int64_t h, int64_t g, int64_t i0,
                 int64_t i1, int64_t j0, int64_t j1, T* s) {
  const int64_t bq = i1 - i0, nk = j1 - j0;
  const int64_t r0 = j0 - doc.k0, r1 = j1 - doc.k0;  // key range relative to the document
  bool any = false, all = true;
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t lo = p.row_lo[i], hi = p.row_hi[i];
    any = any || (lo <= hi && lo < r1 && hi >= r0);
    all = all && lo <= r0 && hi >= r1 - 1;
  }
  if (!any) return false;
  if (p.key_valid)
    for (int64_t j = j0; j < j1 && all; ++j) all = p.key_valid[j] != 0;
  gemm_strided<T>(false, true, bq, nk, p.d, p.scale, p.q + (i0 * p.heads + h) * p.d, p.heads * p.d,
                  p.k + (j0 * p.kv_heads + g) * p.d, p.kv_heads * p.d, T(0), s, nk);
  if (all) return true;
  for (int64_t r = 0; r < bq; ++r) {
    // Visible columns of this row form one interval; everything outside it is masked.
    const int64_t lo = std::clamp<int64_t>(p.row_lo[i0 + r] - r0, 0, nk);
    const int64_t hi = std::clamp<int64_t>(p.row_hi[i0 + r] - r0 + 1, lo, nk);
    T* sr = s + r * nk;
    std::fill(sr, sr + lo, kNegInf<T>);
    std::fill(sr + hi, sr + nk, kNegInf<T>);
    if (p.key_valid)
      for (int64_t c = lo; c < hi; ++c)
        if (!p.key_valid[j0 + c]) sr[c] = kNegInf<T>;
  }
  return true;
}

// Keys of a document are tiled at multiples of block_k from its start, in forward and backward.
inline int64_t first_key_block(int64_t lo, int64_t block_k) {
  return lo / block_k * block_k;
}

// Probabilities of a scored tile from the saved row lse: P = exp(S - lse), 0 where masked or
// where the row is empty (lse = +inf).
template <typename T>
void tile_probabilities(const T* s, const T* lse, int64_t row0, int64_t heads, int64_t h,
                        int64_t bq, int64_t nk, T* pr) {
  for (int64_t r = 0; r < bq; ++r) {
    const T l = lse[(row0 + r) * heads + h];
    const T* sr = s + r * nk;
    T* pp = pr + r * nk;
#pragma omp simd
    for (int64_t c = 0; c < nk; ++c) pp[c] = fast_exp(sr[c] - l);
  }
}

}  // namespace attn::cpu
