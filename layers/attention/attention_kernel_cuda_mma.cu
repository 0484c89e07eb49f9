// CUDA attention forward on tensor cores: bf16 q/k/v, f32 accumulation (mma.sync m16n8k16),
// same packed-documents semantics and the same out/lse as the f32 forward, for d = dv in {64, 128}.
#include <algorithm>
#include <climits>
#include <cstdint>

#include "layers/attention/attention_kernel_cuda.h"
#include "layers/attention/attention_kernel_cuda_common.cuh"
#include "layers/attention/attention_kernel_cuda_mma.cuh"

namespace attn::cuda {

namespace attention {
namespace {

// One block per (64-row query tile, head); warp w owns rows 16 w .. 16 w + 15 of the tile, lane
// t its rows g and g + 8. Q stays in A fragments, K/V tiles stream through shared memory, and
// the online softmax runs on the S fragments (row state m, l per thread for its two rows).
// S = Q K^T: A = Q (rows, 16 dims), B(k, n) = K(key n, dim k). O += P V: A = P (rows, 16 keys)
// packed from two S tiles, B(k, n) = V(key k, dim n). Layouts: attention_kernel_cuda_mma.cuh.
template <int D>
__global__ void __launch_bounds__(kMmaThreads)
    forward_mma_kernel(AttentionProblemBf16 p, float* out, float* lse) {
  constexpr int ld = D + kPad, KC = D / 16, ND = D / 8, NS = kMmaBk / 8;
  __shared__ __align__(16) uint16_t ks[kMmaBk * ld];
  __shared__ __align__(16) uint16_t vs[kMmaBk * ld];
  TileSpan span;
  if (!locate_tile(p.cu_q, p.docs, kMmaBq, blockIdx.x, span)) return;
  const int64_t h = blockIdx.y, gk = h / (p.heads / p.kv_heads), H = p.heads, Hk = p.kv_heads;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4;
  const auto [k0, q0, q1, klen, valid] = tile_doc(p, span.doc);

  // The thread's two rows (r = 0: g, r = 1: g + 8 of the warp's 16) and their intervals.
  int64_t row[2];
  int lo[2], hi[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    row[r] = span.t0 + warp * 16 + g + 8 * r;
    lo[r] = row[r] < span.t1 ? p.row_lo[row[r]] : 0;
    hi[r] = row[r] < span.t1 ? p.row_hi[row[r]] : -1;
  }
  // Q fragments (32-bit loads of two adjacent dims; rows past the tile are zero).
  uint32_t qa[KC][4];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const uint32_t* q =
        row[r] < span.t1
            ? reinterpret_cast<const uint32_t*>(p.q + (row[r] * H + h) * static_cast<int64_t>(D))
            : nullptr;
#pragma unroll
    for (int kc = 0; kc < KC; ++kc) {
      qa[kc][r] = q ? q[(kc * 16 + 2 * tig) / 2] : 0u;          // A(g + 8r, 2tig..)
      qa[kc][2 + r] = q ? q[(kc * 16 + 8 + 2 * tig) / 2] : 0u;  // A(g + 8r, 2tig + 8..)
    }
  }
  int key_lo, key_hi;
  block_key_range(p, span.t0, span.t1, klen, key_lo, key_hi);

  float m[2] = {-kInf, -kInf}, l[2] = {0.0f, 0.0f};  // l: this lane's partial row sums
  float o[ND][4];
#pragma unroll
  for (int nd = 0; nd < ND; ++nd) o[nd][0] = o[nd][1] = o[nd][2] = o[nd][3] = 0.0f;

  for (int jb = key_lo / kMmaBk * kMmaBk; jb <= key_hi; jb += kMmaBk) {
    // Also the barrier before the previous tile's ks/vs are overwritten.
    if (!__syncthreads_or(rows_see<2>(lo, hi, jb, jb + kMmaBk - 1))) continue;
    const int nk = min(kMmaBk, klen - jb);
    load_tile_bf16<D>(ks, p.k + ((k0 + jb) * Hk + gk) * D, Hk * D, nk);
    load_tile_bf16<D>(vs, p.v + ((k0 + jb) * Hk + gk) * D, Hk * D, nk);
    __syncthreads();

    // s[n] is the C tile of keys jb + 8n .. 8n + 7.
    float s[NS][4];
#pragma unroll
    for (int n = 0; n < NS; ++n) {
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
      for (int kc = 0; kc < KC; ++kc) {
        uint32_t b0, b1;
        load_b_trans(b0, b1, ks, ld, n * 8, kc * 16);  // B(k, n') = K(key 8n + n', dim 16kc + k)
        mma_bf16(s[n], qa[kc], b0, b1);
      }
    }
    // Mask (c[e] of tile n is row g + 8 (e / 2), key jb + 8n + 2tig + e % 2) and scale.
#pragma unroll
    for (int n = 0; n < NS; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = jb + n * 8 + 2 * tig + (e & 1), r = e >> 1;
        const bool ok =
            col < klen && (valid == nullptr || valid[col] != 0) && col >= lo[r] && col <= hi[r];
        s[n][e] = ok ? s[n][e] * p.scale : -kInf;
      }
      // Online softmax per row; P overwrites S (f32 into l, bf16 into the P V product).
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mb = -kInf;
#pragma unroll
      for (int n = 0; n < NS; ++n) mb = fmaxf(mb, fmaxf(s[n][2 * r], s[n][2 * r + 1]));
      const float m_new = fmaxf(m[r], quad_max(mb));
      // m_new = -inf: nothing visible so far; p = exp(-inf) = 0 and the state stays as is.
      const float alpha = m_new == -kInf ? 1.0f : expf(m[r] - m_new);
      const float mu = m_new == -kInf ? 0.0f : m_new;
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < NS; ++n)
#pragma unroll
        for (int e = 2 * r; e < 2 * r + 2; ++e) {
          s[n][e] = expf(s[n][e] - mu);
          sum += s[n][e];
        }
      l[r] = l[r] * alpha + sum;
      m[r] = m_new;
#pragma unroll
      for (int nd = 0; nd < ND; ++nd) {
        o[nd][2 * r] *= alpha;
        o[nd][2 * r + 1] *= alpha;
      }
    }
    // O += P V over 4 chunks of 16 keys; B(k, n=g) = V(key 16c + k, dim 8nd + g).
#pragma unroll
    for (int c = 0; c < kMmaBk / 16; ++c) {
      uint32_t pa[4];
      pack_a(pa, s[2 * c], s[2 * c + 1]);
#pragma unroll
      for (int nd = 0; nd < ND; ++nd) {
        uint32_t b0, b1;
        load_b(b0, b1, vs, ld, c * 16, nd * 8);
        mma_bf16(o[nd], pa, b0, b1);
      }
    }
  }
  // Finish: full row sums (quad order fixed), normalise, sink, lse; like the f32 forward.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float lr = quad_sum(l[r]);
    if (row[r] >= span.t1) continue;
    const int64_t idx = row[r] * H + h;
    float* dst = out + idx * D + 2 * tig;
    if (lr == 0.0f) {  // the row sees nothing: zero output, lse = +inf => zero gradients
#pragma unroll
      for (int nd = 0; nd < ND; ++nd) *reinterpret_cast<float2*>(dst + nd * 8) = make_float2(0, 0);
      if (tig == 0) lse[idx] = kInf;
      continue;
    }
    const float base_lse = m[r] + logf(lr);
    float keep = 1.0f, row_lse = base_lse;
    if (p.sink) {
      const float z = p.sink[h];
      keep = 1.0f - 1.0f / (1.0f + expf(base_lse - z));
      row_lse = fmaxf(base_lse, z) + log1pf(expf(-fabsf(base_lse - z)));
    }
    const float f = keep / lr;
#pragma unroll
    for (int nd = 0; nd < ND; ++nd)
      *reinterpret_cast<float2*>(dst + nd * 8) =
          make_float2(o[nd][2 * r] * f, o[nd][2 * r + 1] * f);
    if (tig == 0) lse[idx] = row_lse;
  }
}

}  // namespace
}  // namespace attention

void attention_forward_bf16(const AttentionProblemBf16& p, float* out, float* lse) {
  using namespace attention;
  ATTN_CHECK(p.d == p.dv && (p.d == 64 || p.d == 128),
             "attention_forward_bf16: needs d = dv in {{64, 128}}, got d = {}, dv = {}", p.d, p.dv);
  ATTN_CHECK(p.kv_heads >= 1 && p.heads % p.kv_heads == 0 && p.heads <= 65535,
             "attention_forward_bf16: heads {} and kv_heads {}", p.heads, p.kv_heads);
  ATTN_CHECK(p.docs >= 1 && grid_tiles(std::max(p.tokens_q, p.tokens_k), p.docs, 1) < INT_MAX,
             "attention_forward_bf16: {} documents, {} / {} tokens", p.docs, p.tokens_q,
             p.tokens_k);
  // 16-byte K/V tile copies, 32-bit Q loads and 8-byte O stores.
  const auto aligned = [](const void* ptr, uintptr_t a) {
    return reinterpret_cast<uintptr_t>(ptr) % a == 0;
  };
  ATTN_CHECK(aligned(p.q, 4) && aligned(p.k, 16) && aligned(p.v, 16) && aligned(out, 8),
             "attention_forward_bf16: q must be 4-byte, k and v 16-byte, out 8-byte aligned");
  if (p.tokens_q == 0) return;
  int dev = 0, major = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  ATTN_CHECK(major >= 8, "attention_forward_bf16: needs compute capability 8.0+, got {}.x", major);
  const dim3 grid(static_cast<unsigned>(grid_tiles(p.tokens_q, p.docs, kMmaBq)),
                  static_cast<unsigned>(p.heads));
  if (p.d == 64)
    forward_mma_kernel<64><<<grid, kMmaThreads, 0, compute_stream()>>>(p, out, lse);
  else
    forward_mma_kernel<128><<<grid, kMmaThreads, 0, compute_stream()>>>(p, out, lse);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace attn::cuda
