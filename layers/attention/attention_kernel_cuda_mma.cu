// CUDA attention forward on tensor cores: bf16 q/k/v, f32 accumulation (mma.sync m16n8k16),
// same packed-documents semantics and the same out/lse as the f32 forward, for d = dv in {64, 128}.
#include <cuda_bf16.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>

#include "layers/attention/attention_kernel_cuda.h"
#include "layers/attention/attention_kernel_cuda_common.cuh"

namespace attn::cuda {

namespace attention {
namespace {

// 64 query rows per block, 16 per warp; key/value tiles of 64 keys.
constexpr int kMmaWarps = 4, kMmaThreads = 32 * kMmaWarps, kMmaBq = 16 * kMmaWarps, kMmaBk = 64;
// Shared rows are padded by 8 bf16 (16 bytes): a row is then 4 banks (mod 32) after the previous
// one, so the 8 rows x 4 words a quad-structured fragment load touches hit 32 distinct banks
// (K: 32-bit loads at row g, word tig; V: 16-bit loads at rows 2 tig (+1), column g).
constexpr int kPad = 8;

// Fragment layouts of mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (PTX ISA, "Matrix
// fragments for mma.m16n8k16"); lane t, g = t / 4 (groupID), tig = t % 4 (thread in group).
// Each 32-bit register holds two bf16, the lower column/row index in the low half.
//   A (16 x 16, row-major), 4 registers: a[0] = A(g, 2tig..2tig+1), a[1] = A(g+8, 2tig..),
//     a[2] = A(g, 2tig+8..), a[3] = A(g+8, 2tig+8..).
//   B (16 x 8, "col": indexed [k][n]), 2 registers: b[0] = B(k = 2tig..2tig+1, n = g),
//     b[1] = B(k = 2tig+8..2tig+9, n = g).
//   C/D (16 x 8, f32), 4 registers: c[0..1] = C(g, 2tig..2tig+1), c[2..3] = C(g+8, 2tig..).
// S = Q K^T: A = a 16 x 16 slice of Q (rows, head dims), B(k, n) = K(key n, dim k), so b[0] is
// one 32-bit load of two adjacent dims of key row g. O += P V: A = P (rows, 16 keys), which is
// exactly two adjacent 8-key C tiles of S: a[0] = S tile 2c (c0, c1), a[1] = S tile 2c (c2, c3),
// a[2] = S tile 2c+1 (c0, c1), a[3] = S tile 2c+1 (c2, c3); B(k, n) = V(key k, dim n).
__device__ inline void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();  // never launched: the host wrapper checks compute capability 8.0
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

// Max / sum over the 4 lanes of a quad (the lanes holding one C row).
__device__ inline float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ inline float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// Rows [0, n) of a [kMmaBk][D] tile from global rows src + r * src_ld into dst[r][ld], zero rows
// past n (V rows there meet P = 0, and 0 * garbage could be NaN). 16-byte copies: the wrapper
// checks the alignment of k/v, and src_ld and D are multiples of 8 elements.
template <int D>
__device__ inline void load_kv_tile(uint16_t* dst, const uint16_t* src, int64_t src_ld, int n) {
  constexpr int ld = D + kPad, chunks = D / 8;
  for (int e = threadIdx.x; e < kMmaBk * chunks; e += kMmaThreads) {
    const int r = e / chunks, c = (e % chunks) * 8;
    uint4 x = make_uint4(0, 0, 0, 0);
    if (r < n) x = *reinterpret_cast<const uint4*>(src + r * src_ld + c);
    *reinterpret_cast<uint4*>(dst + r * ld + c) = x;
  }
}

// Union of the visible intervals of rows [t0, t1), clamped to [0, klen); lo > hi when empty.
__device__ inline void key_range(const AttentionProblemBf16& p, int64_t t0, int64_t t1, int klen,
                                 int& lo, int& hi) {
  __shared__ int s_lo, s_hi;
  if (threadIdx.x == 0) {
    s_lo = INT_MAX;
    s_hi = -1;
  }
  __syncthreads();
  for (int64_t i = t0 + threadIdx.x; i < t1; i += blockDim.x) {
    const int l = max(p.row_lo[i], 0), h = min(p.row_hi[i], klen - 1);
    if (l <= h) {
      atomicMin(&s_lo, l);
      atomicMax(&s_hi, h);
    }
  }
  __syncthreads();
  lo = s_lo;
  hi = s_hi;
}

// One block per (64-row query tile, head); warp w owns rows 16 w .. 16 w + 15 of the tile, lane
// t its rows g and g + 8. Q stays in A fragments, K/V tiles stream through shared memory, and
// the online softmax runs on the S fragments (row state m, l per thread for its two rows).
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
  const int64_t k0 = p.cu_k[span.doc];
  const int klen = p.cu_k[span.doc + 1] - static_cast<int>(k0);
  const uint8_t* valid = p.key_valid ? p.key_valid + k0 : nullptr;

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
  key_range(p, span.t0, span.t1, klen, key_lo, key_hi);

  float m[2] = {-kInf, -kInf}, l[2] = {0.0f, 0.0f};  // l: this lane's partial row sums
  float o[ND][4];
#pragma unroll
  for (int nd = 0; nd < ND; ++nd) o[nd][0] = o[nd][1] = o[nd][2] = o[nd][3] = 0.0f;

  for (int jb = key_lo / kMmaBk * kMmaBk; jb <= key_hi; jb += kMmaBk) {
    // Also the barrier before the previous tile's ks/vs are overwritten.
    if (!__syncthreads_or(rows_see<2>(lo, hi, jb, jb + kMmaBk - 1))) continue;
    const int nk = min(kMmaBk, klen - jb);
    load_kv_tile<D>(ks, p.k + ((k0 + jb) * Hk + gk) * D, Hk * D, nk);
    load_kv_tile<D>(vs, p.v + ((k0 + jb) * Hk + gk) * D, Hk * D, nk);
    __syncthreads();

    // s[n] is the C tile of keys jb + 8n .. 8n + 7.
    float s[NS][4];
#pragma unroll
    for (int n = 0; n < NS; ++n) {
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
      const uint16_t* krow = ks + (n * 8 + g) * ld + 2 * tig;  // B(k, n=g) = K(key 8n+g, dim k)
#pragma unroll
      for (int kc = 0; kc < KC; ++kc) {
        const uint32_t b0 = *reinterpret_cast<const uint32_t*>(krow + kc * 16);
        const uint32_t b1 = *reinterpret_cast<const uint32_t*>(krow + kc * 16 + 8);
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
      const uint32_t pa[4] = {
          pack_bf16(s[2 * c][0], s[2 * c][1]), pack_bf16(s[2 * c][2], s[2 * c][3]),
          pack_bf16(s[2 * c + 1][0], s[2 * c + 1][1]), pack_bf16(s[2 * c + 1][2], s[2 * c + 1][3])};
      const uint16_t* vk = vs + (c * 16 + 2 * tig) * ld + g;  // V(key 16c + 2tig, dim g)
#pragma unroll
      for (int nd = 0; nd < ND; ++nd) {
        const uint16_t* v = vk + nd * 8;
        const uint32_t b0 = pack_u16(v[0], v[ld]);
        const uint32_t b1 = pack_u16(v[8 * ld], v[9 * ld]);
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
