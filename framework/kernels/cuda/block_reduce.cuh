// Block-wide reductions of every CUDA kernel that sums (rows, columns, vocabularies): a fixed
// butterfly inside each warp, then warp 0 over the warps' partials, so every sum has one order
// for a given block size and results repeat to the bit. No float atomics anywhere.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace attn::cuda::block_reduce {

// Block size of the kernels whose partition is fixed by the shape alone (reduce.cu, bias.cu).
constexpr int kFixedReduceThreads = 256;

// Threads per row block: the row is strided over the block, long rows (a vocabulary) get more
// threads. Always a multiple of 32, at most 1024 (the reductions below rely on both).
inline int threads_for(int64_t cols) {
  return cols >= 4096 ? 1024 : 256;
}

// Blocks for a grid-stride loop over rows: beyond this, blocks take several rows in turn.
inline unsigned blocks_for(int64_t rows) {
  return static_cast<unsigned>(std::min<int64_t>(rows, int64_t(1) << 20));
}

template <typename T>
__device__ inline T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum of v over the block (float, or double for sums that must not drift), returned to every
// thread. Every thread of the block must call it (no divergence); consecutive calls are safe:
// the first barrier waits for the previous call's readers of `total`.
template <typename T>
__device__ inline T block_sum(T v) {
  __shared__ T partial[32];
  __shared__ T total;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T t = lane < warps ? partial[lane] : T(0);
    t = warp_sum(t);
    if (lane == 0) total = t;
  }
  __syncthreads();
  return total;
}

// Running softmax normaliser of a set of logits: m = max, s = sum exp(x - m). Empty set:
// m = -inf, s = 0. -inf logits contribute nothing (and never produce inf - inf).
struct MaxSum {
  float m = -INFINITY;
  float s = 0.0f;

  __device__ void add(float x) {
    if (x == -INFINITY) return;
    if (x > m) {
      s = s * expf(m - x) + 1.0f;  // m = -inf: s is 0 and expf(-inf) is 0
      m = x;
    } else {
      s += expf(x - m);
    }
  }
  // Symmetric in (this, o) up to the commutativity of +, so both butterfly partners agree.
  __device__ void merge(float om, float os) {
    if (om == -INFINITY) return;
    if (m == -INFINITY) {
      m = om;
      s = os;
    } else if (om > m) {
      s = s * expf(m - om) + os;
      m = om;
    } else {
      s += os * expf(om - m);
    }
  }
  __device__ float lse() const { return m + logf(s); }
};

// The block-wide MaxSum, returned to every thread; same calling rules as block_sum.
__device__ inline MaxSum block_max_sum(MaxSum v) {
  __shared__ float pm[32], ps[32];
  __shared__ float total_m, total_s;  // not a MaxSum: __shared__ variables take no initialiser
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int offset = 16; offset > 0; offset >>= 1)
    v.merge(__shfl_xor_sync(0xffffffffu, v.m, offset), __shfl_xor_sync(0xffffffffu, v.s, offset));
  __syncthreads();
  if (lane == 0) {
    pm[warp] = v.m;
    ps[warp] = v.s;
  }
  __syncthreads();
  if (warp == 0) {
    MaxSum t;
    if (lane < warps) t = MaxSum{pm[lane], ps[lane]};
    for (int offset = 16; offset > 0; offset >>= 1)
      t.merge(__shfl_xor_sync(0xffffffffu, t.m, offset), __shfl_xor_sync(0xffffffffu, t.s, offset));
    if (lane == 0) {
      total_m = t.m;
      total_s = t.s;
    }
  }
  __syncthreads();
  return MaxSum{total_m, total_s};
}

}  // namespace attn::cuda::block_reduce
