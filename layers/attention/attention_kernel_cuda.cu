// CUDA attention forward (online softmax, fused row statistics) and key-mass pass, f32 SIMT.
#include "layers/attention/attention_kernel_cuda.h"
#include "layers/attention/attention_kernel_cuda_common.cuh"

#include <algorithm>

namespace attn::cuda {

namespace attention {

void check_problem(const AttentionProblemF32& p, const char* what) {
  ATTN_CHECK(p.d >= 1 && p.d <= 128 && p.dv >= 1 && p.dv <= 128,
             "{}: CUDA attention supports head dims 1..128, got d = {}, dv = {}", what, p.d, p.dv);
  ATTN_CHECK(p.kv_heads >= 1 && p.heads % p.kv_heads == 0 && p.heads <= 65535,
             "{}: heads {} and kv_heads {}", what, p.heads, p.kv_heads);
  ATTN_CHECK(p.docs >= 1 && grid_tiles(std::max(p.tokens_q, p.tokens_k), p.docs, 1) < INT_MAX,
             "{}: {} documents, {} / {} tokens", what, p.docs, p.tokens_q, p.tokens_k);
}

namespace {

// Forward tiles: 64 query rows (4 per thread) x 32 keys (2 per thread).
constexpr int kBq = 64, kBk = 32;

// One block per (query tile, head): Q stays in shared memory while K/V tiles stream through.
// The row statistics ride along the online softmax exactly like the CPU kernel: the running
// sums of P S and P^2 are rescaled by alpha (alpha^2) when the running max grows, so they need
// no second pass over the keys once the final lse is known.
template <int DQ, int DV>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(AttentionProblemF32 p, float* out, float* lse, AttentionForwardStats<float> st) {
  constexpr int R = kBq / kLanes, C = kBk / kLanes, CV = DV / kLanes;
  constexpr int ldq = DQ + 1, ldv = DV + 1, ldp = kBk + 1;  // +1: conflict-free column reads
  extern __shared__ float smem[];
  float* qs = smem;            // [kBq][ldq]
  float* ks = qs + kBq * ldq;  // [kBk][ldq]
  float* vs = ks + kBk * ldq;  // [kBk][ldv]
  float* ps = vs + kBk * ldv;  // [kBq][ldp]
  TileSpan span;
  if (!locate_tile(p.cu_q, p.docs, kBq, blockIdx.x, span)) return;
  const int64_t h = blockIdx.y, g = h / (p.heads / p.kv_heads), H = p.heads, Hk = p.kv_heads;
  const int tx = threadIdx.x % kLanes, ty = threadIdx.x / kLanes;
  const auto [k0, q0, q1, klen, valid] = tile_doc(p, span.doc);

  load_tile(qs, ldq, kBq, DQ, p.q + (span.t0 * H + h) * p.d, H * p.d,
            static_cast<int>(span.t1 - span.t0), static_cast<int>(p.d));
  int lo[R], hi[R];
  row_windows<R>(p, span.t0, span.t1, ty, lo, hi);
  int key_lo, key_hi;
  block_key_range(p, span.t0, span.t1, klen, key_lo, key_hi);  // also the barrier after qs

  float m[R], l[R], es[R], e2[R], s0[R], acc[R][CV];
  int cnt[R];
#pragma unroll
  for (int i = 0; i < R; ++i) {
    m[i] = s0[i] = -kInf;
    l[i] = es[i] = e2[i] = 0.0f;
    cnt[i] = 0;
#pragma unroll
    for (int c = 0; c < CV; ++c) acc[i][c] = 0.0f;
  }
  // Keys are tiled at multiples of kBk from the document start, from the tile holding key_lo.
  for (int jb = key_lo / kBk * kBk; jb <= key_hi; jb += kBk) {
    if (!__syncthreads_or(rows_see<R>(lo, hi, jb, jb + kBk - 1))) continue;
    const int nk = min(kBk, klen - jb);
    load_tile(ks, ldq, kBk, DQ, p.k + ((k0 + jb) * Hk + g) * p.d, Hk * p.d, nk,
              static_cast<int>(p.d));
    load_tile(vs, ldv, kBk, DV, p.v + ((k0 + jb) * Hk + g) * p.dv, Hk * p.dv, nk,
              static_cast<int>(p.dv));
    __syncthreads();
    float s[R][C];
    tile_dot<R, C>(s, qs, ldq, ks, ldq, static_cast<int>(p.d), ty, tx);
    mask_scores<R, C>(s, lo, hi, jb, klen, valid, p.scale, tx);
    if (jb == 0 && tx == 0) {
#pragma unroll
      for (int i = 0; i < R; ++i) s0[i] = s[i][0];  // key 0 of the document, -inf if hidden
    }
#pragma unroll
    for (int i = 0; i < R; ++i) {
      float mb = s[i][0];
#pragma unroll
      for (int j = 1; j < C; ++j) mb = fmaxf(mb, s[i][j]);
      const float m_new = fmaxf(m[i], row_max(mb));
      // m_new = -inf: nothing visible so far; every p below is 0 and the state stays as is.
      const float alpha = m_new == -kInf ? 1.0f : expf(m[i] - m_new);
      float sum = 0.0f, se = 0.0f, sq = 0.0f;
#pragma unroll
      for (int j = 0; j < C; ++j) {
        const bool vis = s[i][j] != -kInf;
        const float pr = vis ? expf(s[i][j] - m_new) : 0.0f;
        sum += pr;
        se += pr > 0.0f ? pr * s[i][j] : 0.0f;  // never 0 * -inf
        sq += pr * pr;
        cnt[i] += vis ? 1 : 0;
        ps[(ty * R + i) * ldp + tx + kLanes * j] = pr;
      }
      sum = row_sum(sum);
      se = row_sum(se);
      sq = row_sum(sq);
      l[i] = l[i] * alpha + sum;
      es[i] = es[i] * alpha + se;
      e2[i] = e2[i] * alpha * alpha + sq;
      m[i] = m_new;
#pragma unroll
      for (int c = 0; c < CV; ++c) acc[i][c] *= alpha;
    }
    __syncthreads();
    // acc += P V; columns past nk have P = 0 and zero-filled V.
    tile_accumulate<R, CV>(acc, ps, ldp, vs, ldv, kBk, ty, tx);
  }
  // Visible keys of each row (all lanes shuffle, before the per-row branches below).
#pragma unroll
  for (int i = 0; i < R; ++i) cnt[i] = row_sum(cnt[i]);
    // Normalise, fold in the sink and finish the statistics (lane 0 of the row writes them).
#pragma unroll
  for (int i = 0; i < R; ++i) {
    const int64_t row = span.t0 + ty * R + i;
    if (row >= span.t1) continue;
    const int64_t idx = row * H + h;
    float* o = out + idx * p.dv;
    if (l[i] == 0.0f) {  // the row sees nothing: zero output, lse = +inf => zero gradients
#pragma unroll
      for (int c = 0; c < CV; ++c)
        if (tx + kLanes * c < p.dv) o[tx + kLanes * c] = 0.0f;
      if (tx == 0) {
        lse[idx] = kInf;
        if (st.entropy) st.entropy[idx] = 0.0f;
        if (st.entropy_normalized) st.entropy_normalized[idx] = 0.0f;
        if (st.prob_sq_sum) st.prob_sq_sum[idx] = 0.0f;
        if (st.first_token_mass) st.first_token_mass[idx] = 0.0f;
      }
      continue;
    }
    const float base_lse = m[i] + logf(l[i]);
    float keep = 1.0f, p_sink = 0.0f, z = 0.0f, row_lse = base_lse;
    if (p.sink) {
      z = p.sink[h];
      p_sink = 1.0f / (1.0f + expf(base_lse - z));
      keep = 1.0f - p_sink;
      row_lse = fmaxf(base_lse, z) + log1pf(expf(-fabsf(base_lse - z)));
    }
    const float scale_out = keep / l[i];
#pragma unroll
    for (int c = 0; c < CV; ++c)
      if (tx + kLanes * c < p.dv) o[tx + kLanes * c] = acc[i][c] * scale_out;
    if (tx != 0) continue;
    lse[idx] = row_lse;
    // H = lse - E[S], with the sink column (score z) included when present.
    const float ent = row_lse - keep * (es[i] / l[i]) - p_sink * z;
    if (st.entropy) st.entropy[idx] = ent;
    if (st.entropy_normalized) {
      const int n = cnt[i] + (p.sink ? 1 : 0);
      st.entropy_normalized[idx] = n >= 2 ? ent / logf(static_cast<float>(n)) : 0.0f;
    }
    if (st.prob_sq_sum) st.prob_sq_sum[idx] = keep * keep * e2[i] / (l[i] * l[i]) + p_sink * p_sink;
    if (st.first_token_mass)
      st.first_token_mass[idx] = s0[i] == -kInf ? 0.0f : keep * expf(s0[i] - base_lse);
  }
}

// Key-mass tiles: 32 keys per block, query tiles of 32 rows (2 per thread).
constexpr int kMassBk = 32, kMassBq = 32;

// One block per (key tile, head) loops over the document's query tiles that see the keys;
// thread t < kMassBk sums column t over the rows in a fixed order (no atomics).
template <int DQ>
__global__ void __launch_bounds__(kThreads)
    key_mass_kernel(AttentionProblemF32 p, const float* lse, const float* row_weights,
                    float* key_mass) {
  constexpr int R = kMassBq / kLanes, C = kMassBk / kLanes;
  constexpr int ldq = DQ + 1, ldp = kMassBk + 1;
  extern __shared__ float smem[];
  float* ks = smem;                // [kMassBk][ldq]
  float* qs = ks + kMassBk * ldq;  // [kMassBq][ldq]
  float* ps = qs + kMassBq * ldq;  // [kMassBq][ldp]
  TileSpan span;
  if (!locate_tile(p.cu_k, p.docs, kMassBk, blockIdx.x, span)) return;
  const int64_t h = blockIdx.y, g = h / (p.heads / p.kv_heads), H = p.heads, Hk = p.kv_heads;
  const int tx = threadIdx.x % kLanes, ty = threadIdx.x / kLanes;
  const auto [k0, q0, q1, klen, valid] = tile_doc(p, span.doc);
  const int jb = static_cast<int>(span.t0 - k0), nk = static_cast<int>(span.t1 - span.t0);
  load_tile(ks, ldq, kMassBk, DQ, p.k + (span.t0 * Hk + g) * p.d, Hk * p.d, nk,
            static_cast<int>(p.d));
  float col_sum = 0.0f;
  for (int64_t i0 = q0; i0 < q1; i0 += kMassBq) {
    const int64_t i1 = i0 + kMassBq < q1 ? i0 + kMassBq : q1;
    int lo[R], hi[R];
    row_windows<R>(p, i0, i1, ty, lo, hi);
    if (!__syncthreads_or(rows_see<R>(lo, hi, jb, jb + nk - 1))) continue;
    load_tile(qs, ldq, kMassBq, DQ, p.q + (i0 * H + h) * p.d, H * p.d, static_cast<int>(i1 - i0),
              static_cast<int>(p.d));
    __syncthreads();
    float s[R][C];
    tile_dot<R, C>(s, qs, ldq, ks, ldq, static_cast<int>(p.d), ty, tx);
    mask_scores<R, C>(s, lo, hi, jb, klen, valid, p.scale, tx);
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const int64_t row = i0 + ty * R + i;
      // Rows past the tile are masked (s = -inf); lse = +inf keeps their P at 0 as well.
      const float row_lse = row < i1 ? lse[row * H + h] : kInf;
      const float w = row < i1 && row_weights ? row_weights[row * H + h] : 1.0f;
#pragma unroll
      for (int j = 0; j < C; ++j)
        ps[(ty * R + i) * ldp + tx + kLanes * j] = w * expf(s[i][j] - row_lse);
    }
    __syncthreads();
    if (threadIdx.x < kMassBk)
      for (int r = 0; r < kMassBq; ++r) col_sum += ps[r * ldp + threadIdx.x];
  }
  if (threadIdx.x < nk) key_mass[(span.t0 + threadIdx.x) * H + h] = col_sum;
}

}  // namespace
}  // namespace attention

void attention_forward(const AttentionProblemF32& p, float* out, float* lse,
                       const AttentionForwardStats<float>& stats) {
  using namespace attention;
  check_problem(p, "attention_forward");
  if (p.tokens_q == 0) return;
  const dim3 grid(static_cast<unsigned>(grid_tiles(p.tokens_q, p.docs, kBq)),
                  static_cast<unsigned>(p.heads));
  with_head_dims(p.d, p.dv, [&](auto dq, auto dv) {
    constexpr int DQ = decltype(dq)::value, DV = decltype(dv)::value;
    const size_t smem = sizeof(float) * ((kBq + kBk) * (DQ + 1) + kBk * (DV + 1) + kBq * (kBk + 1));
    launch(forward_kernel<DQ, DV>, grid, smem, p, out, lse, stats);
  });
}

void attention_key_mass(const AttentionProblemF32& p, const float* lse, const float* row_weights,
                        float* key_mass) {
  using namespace attention;
  check_problem(p, "attention_key_mass");
  if (p.tokens_k == 0) return;
  const dim3 grid(static_cast<unsigned>(grid_tiles(p.tokens_k, p.docs, kMassBk)),
                  static_cast<unsigned>(p.heads));
  with_head_dims(p.d, p.d, [&](auto dq, auto) {
    constexpr int DQ = decltype(dq)::value;
    const size_t smem = sizeof(float) * ((kMassBk + kMassBq) * (DQ + 1) + kMassBq * (kMassBk + 1));
    launch(key_mass_kernel<DQ>, grid, smem, p, lse, row_weights, key_mass);
  });
}

}  // namespace attn::cuda
