// Device helpers shared by the CUDA attention kernels: tiles of packed documents, shared-memory
// tile loads, masked score tiles and half-warp row reductions. Included only from .cu files.
#pragma once

#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/stream.h"
#include "layers/attention/attention_kernel_cuda.h"

namespace attn::cuda::attention {

constexpr int kThreads = 256;
// A score tile is spread over the block as 16 row groups (ty) x 16 lanes (tx): thread (ty, tx)
// holds rows ty * R + i and columns tx + 16 j. The 16 lanes of a row group are one half-warp,
// so row reductions are 4 xor-shuffles, identical (commutative) in every lane.
constexpr int kLanes = 16;
constexpr float kInf = INFINITY;

// Tiles of `rows` tokens per document, numbered without a prefix sum: document b's tiles start
// at index cu[b] / rows + b, which leaves room for its ceil(len / rows) tiles (floor((c + len) /
// rows) + 1 >= floor(c / rows) + ceil(len / rows)). Indices in the gaps are unused.
inline int64_t grid_tiles(int64_t tokens, int64_t docs, int rows) {
  return tokens / rows + docs;
}

struct TileSpan {
  int64_t doc, t0, t1;  // global token range [t0, t1) inside document doc
};

// The tile of index idx, or false for an unused index (the whole block returns).
__device__ inline bool locate_tile(const int32_t* cu, int64_t docs, int rows, int64_t idx,
                                   TileSpan& span) {
  // Largest b with base(b) <= idx; base is non-decreasing and base(0) = 0.
  int64_t lo = 0, hi = docs - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (cu[mid] / rows + mid <= idx)
      lo = mid;
    else
      hi = mid - 1;
  }
  const int64_t t0 = cu[lo] + (idx - (cu[lo] / rows + lo)) * rows, end = cu[lo + 1];
  if (t0 >= end) return false;
  span.doc = lo;
  span.t0 = t0;
  span.t1 = t0 + rows < end ? t0 + rows : end;
  return true;
}

// dst[r * ld + c] = src[r * src_ld + c] for r < n and c < width, 0 elsewhere in [rows, cols):
// zero padding lets the inner loops run to compile-time bounds.
__device__ inline void load_tile(float* dst, int ld, int rows, int cols, const float* src,
                                 int64_t src_ld, int n, int width) {
  for (int e = threadIdx.x; e < rows * cols; e += blockDim.x) {
    const int r = e / cols, c = e % cols;
    dst[r * ld + c] = (r < n && c < width) ? src[r * src_ld + c] : 0.0f;
  }
}

__device__ inline float row_max(float x) {
  for (int o = kLanes / 2; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

template <typename T>
__device__ inline T row_sum(T x) {
  for (int o = kLanes / 2; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// s[i][j] = sum_kk a[(ty R + i) lda + kk] * b[(tx + 16 j) ldb + kk] over kk < n.
template <int R, int C>
__device__ inline void tile_dot(float (&s)[R][C], const float* a, int lda, const float* b, int ldb,
                                int n, int ty, int tx) {
#pragma unroll
  for (int i = 0; i < R; ++i)
#pragma unroll
    for (int j = 0; j < C; ++j) s[i][j] = 0.0f;
#pragma unroll 4
  for (int kk = 0; kk < n; ++kk) {
    float av[R], bv[C];
#pragma unroll
    for (int i = 0; i < R; ++i) av[i] = a[(ty * R + i) * lda + kk];
#pragma unroll
    for (int j = 0; j < C; ++j) bv[j] = b[(tx + kLanes * j) * ldb + kk];
#pragma unroll
    for (int i = 0; i < R; ++i)
#pragma unroll
      for (int j = 0; j < C; ++j) s[i][j] = fmaf(av[i], bv[j], s[i][j]);
  }
}

// acc[i][c] += sum_kk a[(ty R + i) lda + kk] * b[kk ldb + tx + 16 c] over kk < n: a register
// tile of (rows of a shared tile) x (a shared matrix), e.g. P V in the forward, dS K for dQ.
template <int R, int C>
__device__ inline void tile_accumulate(float (&acc)[R][C], const float* a, int lda, const float* b,
                                       int ldb, int n, int ty, int tx) {
#pragma unroll 4
  for (int kk = 0; kk < n; ++kk) {
    float av[R];
#pragma unroll
    for (int i = 0; i < R; ++i) av[i] = a[(ty * R + i) * lda + kk];
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const float bv = b[kk * ldb + tx + kLanes * c];
#pragma unroll
      for (int i = 0; i < R; ++i) acc[i][c] = fmaf(av[i], bv, acc[i][c]);
    }
  }
}

// The one place that interprets masks: column j of the thread is the document-relative key
// jb + tx + 16 j; it is visible to row i when inside [lo_i, hi_i], inside the document and
// valid. Visible scores are scaled, the others become -inf.
template <int R, int C>
__device__ inline void mask_scores(float (&s)[R][C], const int (&lo)[R], const int (&hi)[R], int jb,
                                   int klen, const uint8_t* valid, float scale, int tx) {
#pragma unroll
  for (int j = 0; j < C; ++j) {
    const int col = jb + tx + kLanes * j;
    const bool key_ok = col < klen && (valid == nullptr || valid[col] != 0);
#pragma unroll
    for (int i = 0; i < R; ++i)
      s[i][j] = key_ok && col >= lo[i] && col <= hi[i] ? s[i][j] * scale : -kInf;
  }
}

// The visible interval of the thread's rows ty * R + i of the tile starting at token t0;
// rows at or past t1 see nothing.
template <int R>
__device__ inline void row_windows(const AttentionProblemF32& p, int64_t t0, int64_t t1, int ty,
                                   int (&lo)[R], int (&hi)[R]) {
#pragma unroll
  for (int i = 0; i < R; ++i) {
    const int64_t row = t0 + ty * R + i;
    lo[i] = row < t1 ? p.row_lo[row] : 0;
    hi[i] = row < t1 ? p.row_hi[row] : -1;
  }
}

// Whether any of the thread's rows sees a key in [c0, c1] (document-relative); the block then
// agrees with __syncthreads_or, which is also the barrier before a tile's buffers are reused.
template <int R>
__device__ inline bool rows_see(const int (&lo)[R], const int (&hi)[R], int c0, int c1) {
  bool any = false;
#pragma unroll
  for (int i = 0; i < R; ++i) any = any || (lo[i] <= hi[i] && lo[i] <= c1 && hi[i] >= c0);
  return any;
}

// The document a located tile lies in: its keys [k0, k0 + klen) of the packed key sequence,
// their validity bytes (null: all valid) and its queries [q0, q1). Problem: AttentionProblemF32 or
// AttentionProblemBf16.
struct TileDoc {
  int64_t k0, q0, q1;
  int klen;
  const uint8_t* valid;
};

template <typename Problem>
__device__ inline TileDoc tile_doc(const Problem& p, int64_t doc) {
  const int64_t k0 = p.cu_k[doc];
  return {k0, p.cu_q[doc], p.cu_q[doc + 1], p.cu_k[doc + 1] - static_cast<int>(k0),
          p.key_valid ? p.key_valid + k0 : nullptr};
}

// Union [lo, hi] of the visible intervals of rows [t0, t1), clamped to the document's klen
// keys; lo > hi when no row sees anything. Integer atomics on shared memory: order-free.
// Problem: AttentionProblemF32 or AttentionProblemBf16 (only the row intervals are read).
template <typename Problem>
__device__ inline void block_key_range(const Problem& p, int64_t t0, int64_t t1, int klen, int& lo,
                                       int& hi) {
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

// Calls f(integral_constant<DQ>, integral_constant<DV>) with the head dims padded to 64 or 128.
template <typename F>
void with_head_dims(int64_t d, int64_t dv, F&& f) {
  using D64 = std::integral_constant<int, 64>;
  using D128 = std::integral_constant<int, 128>;
  if (d <= 64) {
    if (dv <= 64)
      f(D64{}, D64{});
    else
      f(D64{}, D128{});
  } else {
    if (dv <= 64)
      f(D128{}, D64{});
    else
      f(D128{}, D128{});
  }
}

// Launches `threads` per block on the compute stream with `smem` bytes of dynamic shared memory
// (above 48 KB needs the per-kernel opt-in, set on every launch since it is per device).
template <typename... Params, typename... Args>
void launch_blocks(void (*kernel)(Params...), dim3 grid, int threads, size_t smem, Args... args) {
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(smem)));
  kernel<<<grid, threads, smem, compute_stream()>>>(args...);
  CUDA_CHECK(cudaGetLastError());
}

template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, size_t smem, Args... args) {
  launch_blocks(kernel, grid, kThreads, smem, args...);
}

// The backward's prologue, shared by the f32 and the bf16 (raw uint16_t dO) kernels.
__device__ inline float widen(float x) {
  return x;
}
__device__ inline float widen(uint16_t bf16) {
  return __uint_as_float(static_cast<uint32_t>(bf16) << 16);  // exact
}

// D_i = <dO_i, O_i> (= sum_j P_ij dP_ij); one warp per row, fixed shuffle tree.
template <typename DoutT>
__global__ void __launch_bounds__(kThreads)
    delta_kernel(int64_t rows, int64_t dv, const float* out, const DoutT* dout, float* delta) {
  const int64_t row = (blockIdx.x * int64_t(kThreads) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;  // uniform per warp
  float acc = 0.0f;
  for (int64_t c = lane; c < dv; c += 32) acc += widen(dout[row * dv + c]) * out[row * dv + c];
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (lane == 0) delta[row] = acc;
}

// dz_h -= sum_i p_sink,i D_i with p_sink,i = exp(z_h - lse'_i) (0 for empty rows); one block
// per head, fixed strided partition then a shared-memory tree. (A template only so that both
// .cu files may include it.)
template <int Threads>
__global__ void __launch_bounds__(Threads)
    dsink_kernel(int64_t tokens, int64_t heads, const float* sink, const float* lse,
                 const float* delta, float* dsink) {
  __shared__ float red[Threads];
  const int64_t h = blockIdx.x;
  const float z = sink[h];
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < tokens; i += Threads)
    acc += expf(z - lse[i * heads + h]) * delta[i * heads + h];
  red[threadIdx.x] = acc;
  __syncthreads();
  for (int s = Threads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) dsink[h] -= red[0];
}

// D [tokens_q, heads] into stream-ordered scratch, the sink gradient from it (when dsink and
// sink), then grads(delta) queues the gradient kernels; the scratch is freed after them, without
// a host sync, also when a launch throws.
template <typename DoutT, typename Grads>
void with_delta(int64_t tokens_q, int64_t heads, int64_t dv, const float* out, const DoutT* dout,
                const float* lse, const float* sink, float* dsink, Grads&& grads) {
  const int64_t rows = tokens_q * heads;
  struct Scratch {
    float* ptr = nullptr;
    ~Scratch() {
      if (ptr) cudaFreeAsync(ptr, compute_stream());
    }
  } scratch;
  CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&scratch.ptr), rows * sizeof(float),
                             compute_stream()));
  float* delta = scratch.ptr;
  delta_kernel<DoutT><<<static_cast<unsigned>((rows * 32 + kThreads - 1) / kThreads), kThreads, 0,
                        compute_stream()>>>(rows, dv, out, dout, delta);
  CUDA_CHECK(cudaGetLastError());
  if (dsink && sink) {
    dsink_kernel<kThreads><<<static_cast<unsigned>(heads), kThreads, 0, compute_stream()>>>(
        tokens_q, heads, sink, lse, delta, dsink);
    CUDA_CHECK(cudaGetLastError());
  }
  grads(static_cast<const float*>(delta));
  scratch.ptr = nullptr;
  CUDA_CHECK(cudaFreeAsync(delta, compute_stream()));
}

// Sizes the kernels support; checked before every launch.
void check_problem(const AttentionProblemF32& p, const char* what);

}  // namespace attn::cuda::attention
