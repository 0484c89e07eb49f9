// CUDA attention backward, f32 SIMT: D = rowsum(dO * O), then dK/dV per (key tile, kv head) and
// dQ per (query tile, head), both recomputing P from the saved lse; no atomics anywhere.
#include "layers/attention/attention_kernel_cuda.h"
#include "layers/attention/attention_kernel_cuda_common.cuh"

namespace attn::cuda {

namespace attention {
namespace {

// Backward tiles: 32 query rows (2 per thread) x 32 keys (2 per thread).
constexpr int kBq = 32, kBk = 32;
constexpr int kWarps = kThreads / 32;
constexpr int kKeysPerWarp = kBk / kWarps;  // dK/dV accumulation: warp w owns 4 keys

// What a thread needs of its rows ty * R + i of a query tile of head h.
template <int R>
struct Rows {
  int lo[R], hi[R];
  float lse[R], delta[R];
  float ent_w[R], ent_shift[R];  // entropy loss: -dL/dH_i and H_i - lse_i (ent_w 0: none)
};

template <int R>
__device__ inline void load_rows(const AttentionProblemF32& p, const float* lse, const float* delta,
                                 const AttentionBackwardExtras<float>& ex, int64_t t0, int64_t t1,
                                 int64_t h, int ty, Rows<R>& rows) {
  row_windows<R>(p, t0, t1, ty, rows.lo, rows.hi);
#pragma unroll
  for (int i = 0; i < R; ++i) {
    const int64_t row = t0 + ty * R + i, idx = row * p.heads + h;
    const bool in = row < t1;
    rows.lse[i] = in ? lse[idx] : kInf;  // P = exp(S - lse) = 0 past the tile
    rows.delta[i] = in ? delta[idx] : 0.0f;
    const float eg = in && ex.entropy_grad ? ex.entropy_grad[idx] : 0.0f;
    rows.ent_w[i] = -eg;
    rows.ent_shift[i] = eg != 0.0f ? ex.entropy[idx] - rows.lse[i] : 0.0f;
  }
}

// P and dS = P (dP - D) [+ w_i P (S - lse + H) for an entropy loss] of a tile from Q, dO (rows)
// and K, V (keys) in shared memory; masked entries have S = -inf, so P = 0 and dS = 0.
template <int R, int C>
__device__ inline void tile_grads(const AttentionProblemF32& p, const float* qs, const float* dos,
                                  int ldq, const float* ks, const float* vs, int ldv,
                                  const Rows<R>& rows, int jb, int klen, const uint8_t* valid,
                                  int ty, int tx, float (&pr)[R][C], float (&ds)[R][C]) {
  float s[R][C], dp[R][C];
  tile_dot<R, C>(s, qs, ldq, ks, ldq, static_cast<int>(p.d), ty, tx);
  mask_scores<R, C>(s, rows.lo, rows.hi, jb, klen, valid, p.scale, tx);
  tile_dot<R, C>(dp, dos, ldv, vs, ldv, static_cast<int>(p.dv), ty, tx);
#pragma unroll
  for (int i = 0; i < R; ++i)
#pragma unroll
    for (int j = 0; j < C; ++j) {
      pr[i][j] = expf(s[i][j] - rows.lse[i]);  // 0 when masked or when the row is empty
      ds[i][j] = pr[i][j] * (dp[i][j] - rows.delta[i]);
      // dH_i/dS_ij = -P_ij (S_ij - lse_i + H_i); skipping P = 0 never forms 0 * -inf.
      if (rows.ent_w[i] != 0.0f && pr[i][j] > 0.0f)
        ds[i][j] += rows.ent_w[i] * pr[i][j] * (s[i][j] + rows.ent_shift[i]);
    }
}

// One block per (key tile, kv head): dK, dV of its keys stay in registers while it loops over
// the heads of the group and the query tiles of the document that see the keys, in a fixed
// order; each key row is written by exactly one block.
template <int DQ, int DV>
__global__ void __launch_bounds__(kThreads)
    backward_kv_kernel(AttentionProblemF32 p, const float* lse, const float* delta,
                       const float* dout, AttentionBackwardExtras<float> ex, float* dk, float* dv) {
  constexpr int R = kBq / kLanes, C = kBk / kLanes, CQ = DQ / 32, CV = DV / 32;
  constexpr int ldq = DQ + 1, ldv = DV + 1, ldp = kBk + 1;
  extern __shared__ float smem[];
  float* ks = smem;             // [kBk][ldq]
  float* vs = ks + kBk * ldq;   // [kBk][ldv]
  float* qs = vs + kBk * ldv;   // [kBq][ldq]
  float* dos = qs + kBq * ldq;  // [kBq][ldv]
  float* ps = dos + kBq * ldv;  // [kBq][ldp]
  float* dss = ps + kBq * ldp;  // [kBq][ldp]
  TileSpan span;
  if (!locate_tile(p.cu_k, p.docs, kBk, blockIdx.x, span)) return;
  const int64_t g = blockIdx.y, group = p.heads / p.kv_heads, H = p.heads, Hk = p.kv_heads;
  const int tx = threadIdx.x % kLanes, ty = threadIdx.x / kLanes;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const auto [k0, q0, q1, klen, valid] = tile_doc(p, span.doc);
  const int jb = static_cast<int>(span.t0 - k0), nk = static_cast<int>(span.t1 - span.t0);
  load_tile(ks, ldq, kBk, DQ, p.k + (span.t0 * Hk + g) * p.d, Hk * p.d, nk, static_cast<int>(p.d));
  load_tile(vs, ldv, kBk, DV, p.v + (span.t0 * Hk + g) * p.dv, Hk * p.dv, nk,
            static_cast<int>(p.dv));
  float dk_acc[kKeysPerWarp][CQ], dv_acc[kKeysPerWarp][CV];
#pragma unroll
  for (int kk = 0; kk < kKeysPerWarp; ++kk) {
#pragma unroll
    for (int c = 0; c < CQ; ++c) dk_acc[kk][c] = 0.0f;
#pragma unroll
    for (int c = 0; c < CV; ++c) dv_acc[kk][c] = 0.0f;
  }
  for (int64_t h = g * group; h < (g + 1) * group; ++h) {
    for (int64_t i0 = q0; i0 < q1; i0 += kBq) {
      const int64_t i1 = i0 + kBq < q1 ? i0 + kBq : q1;
      const int n = static_cast<int>(i1 - i0);
      Rows<R> rows;
      load_rows<R>(p, lse, delta, ex, i0, i1, h, ty, rows);
      if (!__syncthreads_or(rows_see<R>(rows.lo, rows.hi, jb, jb + nk - 1))) continue;
      load_tile(qs, ldq, kBq, DQ, p.q + (i0 * H + h) * p.d, H * p.d, n, static_cast<int>(p.d));
      load_tile(dos, ldv, kBq, DV, dout + (i0 * H + h) * p.dv, H * p.dv, n, static_cast<int>(p.dv));
      __syncthreads();
      float pr[R][C], ds[R][C];
      tile_grads<R, C>(p, qs, dos, ldq, ks, vs, ldv, rows, jb, klen, valid, ty, tx, pr, ds);
#pragma unroll
      for (int i = 0; i < R; ++i)
#pragma unroll
        for (int j = 0; j < C; ++j) {
          ps[(ty * R + i) * ldp + tx + kLanes * j] = pr[i][j];
          dss[(ty * R + i) * ldp + tx + kLanes * j] = ds[i][j];
        }
      __syncthreads();
      // dV += P^T dO;  dK += dS^T Q (scaled at the end). Rows past the tile have P = dS = 0.
#pragma unroll 2
      for (int r = 0; r < kBq; ++r) {
        float qv[CQ], ov[CV];
#pragma unroll
        for (int c = 0; c < CQ; ++c) qv[c] = qs[r * ldq + lane + 32 * c];
#pragma unroll
        for (int c = 0; c < CV; ++c) ov[c] = dos[r * ldv + lane + 32 * c];
#pragma unroll
        for (int kk = 0; kk < kKeysPerWarp; ++kk) {
          const int key = warp * kKeysPerWarp + kk;
          const float pv = ps[r * ldp + key], sv = dss[r * ldp + key];
#pragma unroll
          for (int c = 0; c < CV; ++c) dv_acc[kk][c] = fmaf(pv, ov[c], dv_acc[kk][c]);
#pragma unroll
          for (int c = 0; c < CQ; ++c) dk_acc[kk][c] = fmaf(sv, qv[c], dk_acc[kk][c]);
        }
      }
    }
  }
#pragma unroll
  for (int kk = 0; kk < kKeysPerWarp; ++kk) {
    const int key = warp * kKeysPerWarp + kk;
    if (key >= nk) continue;
    const int64_t j = span.t0 + key;
#pragma unroll
    for (int c = 0; c < CQ; ++c)
      if (dk && lane + 32 * c < p.d)
        dk[(j * Hk + g) * p.d + lane + 32 * c] += p.scale * dk_acc[kk][c];
#pragma unroll
    for (int c = 0; c < CV; ++c)
      if (dv && lane + 32 * c < p.dv) dv[(j * Hk + g) * p.dv + lane + 32 * c] += dv_acc[kk][c];
  }
}

// One block per (query tile, head): dQ of its rows stays in registers while K/V tiles stream
// through, over the same key tiles as the forward.
template <int DQ, int DV>
__global__ void __launch_bounds__(kThreads)
    backward_q_kernel(AttentionProblemF32 p, const float* lse, const float* delta,
                      const float* dout, AttentionBackwardExtras<float> ex, float* dq) {
  constexpr int R = kBq / kLanes, C = kBk / kLanes, CQ = DQ / kLanes;
  constexpr int ldq = DQ + 1, ldv = DV + 1, ldp = kBk + 1;
  extern __shared__ float smem[];
  float* qs = smem;             // [kBq][ldq]
  float* dos = qs + kBq * ldq;  // [kBq][ldv]
  float* ks = dos + kBq * ldv;  // [kBk][ldq]
  float* vs = ks + kBk * ldq;   // [kBk][ldv]
  float* dss = vs + kBk * ldv;  // [kBq][ldp]
  TileSpan span;
  if (!locate_tile(p.cu_q, p.docs, kBq, blockIdx.x, span)) return;
  const int64_t h = blockIdx.y, g = h / (p.heads / p.kv_heads), H = p.heads, Hk = p.kv_heads;
  const int tx = threadIdx.x % kLanes, ty = threadIdx.x / kLanes;
  const auto [k0, q0, q1, klen, valid] = tile_doc(p, span.doc);
  const int n = static_cast<int>(span.t1 - span.t0);
  load_tile(qs, ldq, kBq, DQ, p.q + (span.t0 * H + h) * p.d, H * p.d, n, static_cast<int>(p.d));
  load_tile(dos, ldv, kBq, DV, dout + (span.t0 * H + h) * p.dv, H * p.dv, n,
            static_cast<int>(p.dv));
  Rows<R> rows;
  load_rows<R>(p, lse, delta, ex, span.t0, span.t1, h, ty, rows);
  int key_lo, key_hi;
  block_key_range(p, span.t0, span.t1, klen, key_lo, key_hi);  // also the barrier after qs, dos
  float acc[R][CQ];
#pragma unroll
  for (int i = 0; i < R; ++i)
#pragma unroll
    for (int c = 0; c < CQ; ++c) acc[i][c] = 0.0f;
  for (int jb = key_lo / kBk * kBk; jb <= key_hi; jb += kBk) {
    if (!__syncthreads_or(rows_see<R>(rows.lo, rows.hi, jb, jb + kBk - 1))) continue;
    const int nk = min(kBk, klen - jb);
    load_tile(ks, ldq, kBk, DQ, p.k + ((k0 + jb) * Hk + g) * p.d, Hk * p.d, nk,
              static_cast<int>(p.d));
    load_tile(vs, ldv, kBk, DV, p.v + ((k0 + jb) * Hk + g) * p.dv, Hk * p.dv, nk,
              static_cast<int>(p.dv));
    __syncthreads();
    float pr[R][C], ds[R][C];
    tile_grads<R, C>(p, qs, dos, ldq, ks, vs, ldv, rows, jb, klen, valid, ty, tx, pr, ds);
#pragma unroll
    for (int i = 0; i < R; ++i)
#pragma unroll
      for (int j = 0; j < C; ++j) dss[(ty * R + i) * ldp + tx + kLanes * j] = ds[i][j];
    __syncthreads();
    // dQ += dS K (scaled at the end); keys past nk have dS = 0 and zero-filled K.
    tile_accumulate<R, CQ>(acc, dss, ldp, ks, ldq, kBk, ty, tx);
  }
#pragma unroll
  for (int i = 0; i < R; ++i) {
    const int64_t row = span.t0 + ty * R + i;
    if (row >= span.t1) continue;
#pragma unroll
    for (int c = 0; c < CQ; ++c)
      if (tx + kLanes * c < p.d) dq[(row * H + h) * p.d + tx + kLanes * c] += p.scale * acc[i][c];
  }
}

}  // namespace
}  // namespace attention

void attention_backward(const AttentionProblemF32& p, const float* out, const float* lse,
                        const float* dout, float* dq, float* dk, float* dv, float* dsink,
                        const AttentionBackwardExtras<float>& extras) {
  using namespace attention;
  check_problem(p, "attention_backward");
  ATTN_CHECK(!extras.key_mass_grad, "attention_backward: the key-mass gradient is CPU-only so far");
  ATTN_CHECK(!(extras.entropy_grad && p.sink),
             "attention_backward: the entropy gradient with a sink is CPU-only so far");
  const int64_t rows = p.tokens_q * p.heads;
  if (rows == 0) return;  // no query: every gradient is zero
  with_delta(p.tokens_q, p.heads, p.dv, out, dout, lse, p.sink, dsink, [&](const float* delta) {
    with_head_dims(p.d, p.dv, [&](auto dq_dim, auto dv_dim) {
      constexpr int DQ = decltype(dq_dim)::value, DV = decltype(dv_dim)::value;
      if ((dk || dv) && p.tokens_k > 0) {
        const dim3 grid(static_cast<unsigned>(grid_tiles(p.tokens_k, p.docs, kBk)),
                        static_cast<unsigned>(p.kv_heads));
        const size_t smem = sizeof(float) * ((kBk + kBq) * (DQ + 1 + DV + 1) + 2 * kBq * (kBk + 1));
        launch(backward_kv_kernel<DQ, DV>, grid, smem, p, lse, delta, dout, extras, dk, dv);
      }
      if (dq) {
        const dim3 grid(static_cast<unsigned>(grid_tiles(p.tokens_q, p.docs, kBq)),
                        static_cast<unsigned>(p.heads));
        const size_t smem = sizeof(float) * ((kBq + kBk) * (DQ + 1 + DV + 1) + kBq * (kBk + 1));
        launch(backward_q_kernel<DQ, DV>, grid, smem, p, lse, delta, dout, extras, dq);
      }
    });
  });
}

}  // namespace attn::cuda
