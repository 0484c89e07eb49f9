// CUDA attention backward on tensor cores: bf16 q/k/v/dout, f32 accumulation (mma.sync m16n8k16);
// dK/dV per (64-key tile, kv head), dQ per (64-row tile, head), P recomputed from the saved lse.
#include <algorithm>
#include <climits>
#include <cstdint>

#include "layers/attention/attention_kernel_cuda.h"
#include "layers/attention/attention_kernel_cuda_common.cuh"
#include "layers/attention/attention_kernel_cuda_mma.cuh"

namespace attn::cuda {

namespace attention {
namespace {

// Both gradient kernels keep four [64][D + kPad] bf16 tiles in shared memory: K, V and Q, dO.
template <int D>
constexpr size_t grad_smem_bytes() {
  return 4 * kMmaBk * (D + kPad) * sizeof(uint16_t);
}

// One block per (64-key tile, kv head); warp w owns keys 16 w .. 16 w + 15 of the tile, lane t
// its keys g and g + 8. The products are transposed so that every operand is a natural fragment:
//   S^T = K Q^T, dP^T = V dO^T: A = K, V (keys, 16 dims); B(k, n) = Q, dO(row n, dim k);
//   dV += P^T dO, dK += dS^T Q: A = P^T, dS^T packed from two C tiles (keys, 16 rows);
//     B(k, n) = dO, Q(row k, dim n);
// with P^T = exp(scale S^T - lse_row) on visible entries (0 elsewhere) and dS^T = P^T (dP^T -
// Delta_row). The block walks the query tiles of the document (outer) and the heads of the group
// (inner) in a fixed order; dK, dV stay in registers and each key row is written by one block.
template <int D>
__global__ void __launch_bounds__(kMmaThreads)
    backward_kv_mma_kernel(AttentionProblemBf16 p, const float* lse, const float* delta,
                           const uint16_t* dout, float* dk, float* dv) {
  constexpr int ld = D + kPad, KC = D / 16, ND = D / 8;
  // Query rows per pass: 32 for D = 128 keeps S^T and dP^T (2 NS x 4 f32) beside the 2 ND x 4
  // accumulators within the 255-register budget.
  constexpr int RC = D == 128 ? 32 : 64, NS = RC / 8;
  extern __shared__ __align__(16) uint16_t smem[];
  uint16_t* ks = smem;               // [kMmaBk][ld] the key tile
  uint16_t* vs = ks + kMmaBk * ld;   // [kMmaBk][ld]
  uint16_t* qs = vs + kMmaBk * ld;   // [kMmaBq][ld] the query tile, head h
  uint16_t* dos = qs + kMmaBq * ld;  // [kMmaBq][ld]
  __shared__ float s_lse[kMmaBq], s_delta[kMmaBq];
  __shared__ int s_lo[kMmaBq], s_hi[kMmaBq];
  TileSpan span;
  if (!locate_tile(p.cu_k, p.docs, kMmaBk, blockIdx.x, span)) return;
  const int64_t gk = blockIdx.y, group = p.heads / p.kv_heads, H = p.heads, Hk = p.kv_heads;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4;
  const auto [k0, q0, q1, klen, valid] = tile_doc(p, span.doc);
  const int jb = static_cast<int>(span.t0 - k0), nk = static_cast<int>(span.t1 - span.t0);

  // The thread's keys (r = 0: g, r = 1: g + 8 of the warp's 16), document-relative.
  int key[2];
  bool key_ok[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int kk = warp * 16 + g + 8 * r;
    key[r] = jb + kk;
    key_ok[r] = kk < nk && (valid == nullptr || valid[key[r]] != 0);
  }
  load_tile_bf16<D>(ks, p.k + (span.t0 * Hk + gk) * D, Hk * D, nk);
  load_tile_bf16<D>(vs, p.v + (span.t0 * Hk + gk) * D, Hk * D, nk);
  float dk_acc[ND][4], dv_acc[ND][4];
#pragma unroll
  for (int nd = 0; nd < ND; ++nd)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk_acc[nd][e] = dv_acc[nd][e] = 0.0f;

  for (int64_t i0 = q0; i0 < q1; i0 += kMmaBq) {
    const int n = static_cast<int>(q1 - i0 < kMmaBq ? q1 - i0 : kMmaBq), t = threadIdx.x;
    int lo = 0, hi = -1;  // row t of the tile (threads past it: an empty interval)
    if (t < n) {
      lo = p.row_lo[i0 + t];
      hi = p.row_hi[i0 + t];
    }
    // Skip tiles whose rows see none of the keys; also the barrier before the shared row data
    // and qs, dos of the previous tile are overwritten.
    if (!__syncthreads_or(lo <= hi && lo <= jb + nk - 1 && hi >= jb)) continue;
    for (int64_t h = gk * group; h < (gk + 1) * group; ++h) {
      load_tile_bf16<D>(qs, p.q + (i0 * H + h) * D, H * D, n);
      load_tile_bf16<D>(dos, dout + (i0 * H + h) * D, H * D, n);
      if (t < kMmaBq) {  // rows past the tile: nothing visible, P = 0, finite dS = 0
        s_lo[t] = lo;
        s_hi[t] = hi;
        s_lse[t] = t < n ? lse[(i0 + t) * H + h] : kInf;
        s_delta[t] = t < n ? delta[(i0 + t) * H + h] : 0.0f;
      }
      __syncthreads();
      for (int rc = 0; rc < kMmaBq; rc += RC) {
        // s[j], dp[j]: C tiles of the warp's 16 keys x rows rc + 8j .. rc + 8j + 7.
        float s[NS][4], dp[NS][4];
#pragma unroll
        for (int j = 0; j < NS; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) s[j][e] = dp[j][e] = 0.0f;
#pragma unroll
        for (int kc = 0; kc < KC; ++kc) {
          uint32_t ka[4], va[4], b0, b1;
          load_a(ka, ks, ld, warp * 16, kc * 16);  // A(m, k) = K(key 16w + m, dim 16kc + k)
          load_a(va, vs, ld, warp * 16, kc * 16);
#pragma unroll
          for (int j = 0; j < NS; ++j) {
            load_b_trans(b0, b1, qs, ld, rc + j * 8, kc * 16);  // B(k, n) = Q(row rc+8j+n, dim)
            mma_bf16(s[j], ka, b0, b1);
            load_b_trans(b0, b1, dos, ld, rc + j * 8, kc * 16);
            mma_bf16(dp[j], va, b0, b1);
          }
        }
        // c[e] of tile j: key g + 8 (e / 2) of the warp, row rc + 8j + 2tig + e % 2 of the tile.
#pragma unroll
        for (int j = 0; j < NS; ++j) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int row = rc + j * 8 + 2 * tig + (e & 1), r = e >> 1;
            const bool ok = key_ok[r] && key[r] >= s_lo[row] && key[r] <= s_hi[row];
            const float pr = ok ? expf(s[j][e] * p.scale - s_lse[row]) : 0.0f;
            s[j][e] = pr;
            dp[j][e] = pr * (dp[j][e] - s_delta[row]);
          }
        }
        // Over 16-row chunks c: A = P^T / dS^T (keys, rows rc + 16c + k), B = dO / Q rows.
#pragma unroll
        for (int c = 0; c < NS / 2; ++c) {
          uint32_t pa[4], da[4], b0, b1;
          pack_a(pa, s[2 * c], s[2 * c + 1]);
          pack_a(da, dp[2 * c], dp[2 * c + 1]);
#pragma unroll
          for (int nd = 0; nd < ND; ++nd) {
            load_b(b0, b1, dos, ld, rc + c * 16, nd * 8);  // B(k, n) = dO(row rc+16c+k, dim 8nd+n)
            mma_bf16(dv_acc[nd], pa, b0, b1);
            load_b(b0, b1, qs, ld, rc + c * 16, nd * 8);
            mma_bf16(dk_acc[nd], da, b0, b1);
          }
        }
      }
      __syncthreads();  // the warps are done with qs, dos and the row data of head h
    }
  }
  // c[2r + i] of tile nd is key g + 8r, dim 8nd + 2tig + i.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int kk = warp * 16 + g + 8 * r;
    if (kk >= nk) continue;
    const int64_t base = ((span.t0 + kk) * Hk + gk) * D + 2 * tig;
#pragma unroll
    for (int nd = 0; nd < ND; ++nd)
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        if (dk) dk[base + nd * 8 + i] += p.scale * dk_acc[nd][2 * r + i];
        if (dv) dv[base + nd * 8 + i] += dv_acc[nd][2 * r + i];
      }
  }
}

// One block per (64-row query tile, head), the forward's tiling: warp w owns rows 16 w .. 16 w +
// 15, lane t its rows g and g + 8; K/V tiles stream through shared memory over the key range.
//   S = Q K^T, dP = dO V^T: A = Q, dO (rows, 16 dims); B(k, n) = K, V(key n, dim k);
//   dQ += dS K: A = dS packed from two C tiles (rows, 16 keys); B(k, n) = K(key k, dim n).
template <int D>
__global__ void __launch_bounds__(kMmaThreads)
    backward_q_mma_kernel(AttentionProblemBf16 p, const float* lse, const float* delta,
                          const uint16_t* dout, float* dq) {
  constexpr int ld = D + kPad, KC = D / 16, ND = D / 8, NS = kMmaBk / 8;
  extern __shared__ __align__(16) uint16_t smem[];
  uint16_t* qs = smem;               // [kMmaBq][ld] the query tile, head h
  uint16_t* dos = qs + kMmaBq * ld;  // [kMmaBq][ld]
  uint16_t* ks = dos + kMmaBq * ld;  // [kMmaBk][ld] the current key tile
  uint16_t* vs = ks + kMmaBk * ld;   // [kMmaBk][ld]
  TileSpan span;
  if (!locate_tile(p.cu_q, p.docs, kMmaBq, blockIdx.x, span)) return;
  const int64_t h = blockIdx.y, gk = h / (p.heads / p.kv_heads), H = p.heads, Hk = p.kv_heads;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4;
  const auto [k0, q0, q1, klen, valid] = tile_doc(p, span.doc);
  const int n = static_cast<int>(span.t1 - span.t0);

  // The thread's two rows (r = 0: g, r = 1: g + 8 of the warp's 16); past the tile: nothing
  // visible, P = 0 and a finite dS = 0.
  int64_t row[2];
  int lo[2], hi[2];
  float row_lse[2], row_delta[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    row[r] = span.t0 + warp * 16 + g + 8 * r;
    const bool in = row[r] < span.t1;
    lo[r] = in ? p.row_lo[row[r]] : 0;
    hi[r] = in ? p.row_hi[row[r]] : -1;
    row_lse[r] = in ? lse[row[r] * H + h] : kInf;
    row_delta[r] = in ? delta[row[r] * H + h] : 0.0f;
  }
  load_tile_bf16<D>(qs, p.q + (span.t0 * H + h) * D, H * D, n);
  load_tile_bf16<D>(dos, dout + (span.t0 * H + h) * D, H * D, n);
  int key_lo, key_hi;
  block_key_range(p, span.t0, span.t1, klen, key_lo, key_hi);  // also the barrier after qs, dos
  float acc[ND][4];
#pragma unroll
  for (int nd = 0; nd < ND; ++nd) acc[nd][0] = acc[nd][1] = acc[nd][2] = acc[nd][3] = 0.0f;

  for (int jb = key_lo / kMmaBk * kMmaBk; jb <= key_hi; jb += kMmaBk) {
    // Also the barrier before the previous tile's ks/vs are overwritten.
    if (!__syncthreads_or(rows_see<2>(lo, hi, jb, jb + kMmaBk - 1))) continue;
    const int nk = min(kMmaBk, klen - jb);
    load_tile_bf16<D>(ks, p.k + ((k0 + jb) * Hk + gk) * D, Hk * D, nk);
    load_tile_bf16<D>(vs, p.v + ((k0 + jb) * Hk + gk) * D, Hk * D, nk);
    __syncthreads();
    // s[j], dp[j]: C tiles of the warp's 16 rows x keys jb + 8j .. jb + 8j + 7.
    float s[NS][4], dp[NS][4];
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[j][e] = dp[j][e] = 0.0f;
#pragma unroll
    for (int kc = 0; kc < KC; ++kc) {
      uint32_t qa[4], da[4], b0, b1;
      load_a(qa, qs, ld, warp * 16, kc * 16);  // A(m, k) = Q(row 16w + m, dim 16kc + k)
      load_a(da, dos, ld, warp * 16, kc * 16);
#pragma unroll
      for (int j = 0; j < NS; ++j) {
        load_b_trans(b0, b1, ks, ld, j * 8, kc * 16);  // B(k, n) = K(key 8j + n, dim 16kc + k)
        mma_bf16(s[j], qa, b0, b1);
        load_b_trans(b0, b1, vs, ld, j * 8, kc * 16);
        mma_bf16(dp[j], da, b0, b1);
      }
    }
    // c[e] of tile j: row g + 8 (e / 2) of the warp, key jb + 8j + 2tig + e % 2; masked as in
    // the forward. dS overwrites dP.
#pragma unroll
    for (int j = 0; j < NS; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = jb + j * 8 + 2 * tig + (e & 1), r = e >> 1;
        const bool ok =
            col < klen && (valid == nullptr || valid[col] != 0) && col >= lo[r] && col <= hi[r];
        const float pr = ok ? expf(s[j][e] * p.scale - row_lse[r]) : 0.0f;
        dp[j][e] = pr * (dp[j][e] - row_delta[r]);
      }
    }
    // dQ += dS K over 16-key chunks c; keys past nk have dS = 0 and zero-filled K rows.
#pragma unroll
    for (int c = 0; c < NS / 2; ++c) {
      uint32_t da[4], b0, b1;
      pack_a(da, dp[2 * c], dp[2 * c + 1]);
#pragma unroll
      for (int nd = 0; nd < ND; ++nd) {
        load_b(b0, b1, ks, ld, c * 16, nd * 8);  // B(k, n) = K(key 16c + k, dim 8nd + n)
        mma_bf16(acc[nd], da, b0, b1);
      }
    }
  }
  // c[2r + i] of tile nd is row g + 8r, dim 8nd + 2tig + i.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (row[r] >= span.t1) continue;
    float* dst = dq + (row[r] * H + h) * D + 2 * tig;
#pragma unroll
    for (int nd = 0; nd < ND; ++nd)
#pragma unroll
      for (int i = 0; i < 2; ++i) dst[nd * 8 + i] += p.scale * acc[nd][2 * r + i];
  }
}

template <int D>
void launch_grads(const AttentionProblemBf16& p, const float* lse, const float* delta,
                  const uint16_t* dout, float* dq, float* dk, float* dv) {
  constexpr size_t smem = grad_smem_bytes<D>();
  if ((dk || dv) && p.tokens_k > 0) {
    const dim3 grid(static_cast<unsigned>(grid_tiles(p.tokens_k, p.docs, kMmaBk)),
                    static_cast<unsigned>(p.kv_heads));
    launch_blocks(backward_kv_mma_kernel<D>, grid, kMmaThreads, smem, p, lse, delta, dout, dk, dv);
  }
  if (dq) {
    const dim3 grid(static_cast<unsigned>(grid_tiles(p.tokens_q, p.docs, kMmaBq)),
                    static_cast<unsigned>(p.heads));
    launch_blocks(backward_q_mma_kernel<D>, grid, kMmaThreads, smem, p, lse, delta, dout, dq);
  }
}

}  // namespace
}  // namespace attention

void attention_backward_bf16(const AttentionProblemBf16& p, const float* out, const float* lse,
                             const uint16_t* dout, float* dq, float* dk, float* dv, float* dsink) {
  using namespace attention;
  ATTN_CHECK(p.d == p.dv && (p.d == 64 || p.d == 128),
             "attention_backward_bf16: needs d = dv in {{64, 128}}, got d = {}, dv = {}", p.d,
             p.dv);
  ATTN_CHECK(p.kv_heads >= 1 && p.heads % p.kv_heads == 0 && p.heads <= 65535,
             "attention_backward_bf16: heads {} and kv_heads {}", p.heads, p.kv_heads);
  ATTN_CHECK(p.docs >= 1 && grid_tiles(std::max(p.tokens_q, p.tokens_k), p.docs, 1) < INT_MAX,
             "attention_backward_bf16: {} documents, {} / {} tokens", p.docs, p.tokens_q,
             p.tokens_k);
  // 16-byte tile copies of Q, dO, K and V.
  const auto aligned = [](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; };
  ATTN_CHECK(aligned(p.q) && aligned(p.k) && aligned(p.v) && aligned(dout),
             "attention_backward_bf16: q, k, v and dout must be 16-byte aligned");
  const int64_t rows = p.tokens_q * p.heads;
  if (rows == 0) return;  // no query: every gradient is zero
  int dev = 0, major = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  ATTN_CHECK(major >= 8, "attention_backward_bf16: needs compute capability 8.0+, got {}.x", major);
  with_delta(p.tokens_q, p.heads, p.dv, out, dout, lse, p.sink, dsink, [&](const float* delta) {
    if (p.d == 64)
      launch_grads<64>(p, lse, delta, dout, dq, dk, dv);
    else
      launch_grads<128>(p, lse, delta, dout, dq, dk, dv);
  });
}

}  // namespace attn::cuda
