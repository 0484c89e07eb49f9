// The fixed-tree block sum shared by the CUDA reduction kernels (reduce.cu, bias.cu): the order
// of the additions depends only on the thread index, never on scheduling, so results are
// reproducible to the bit.
#pragma once

namespace attn::cuda {

// Every reducing kernel runs blocks of exactly this many threads (a power of two).
constexpr int kReduceThreads = 256;

// Sum of v over the kReduceThreads threads of the block, returned to every thread. `shared`
// holds kReduceThreads floats; all threads must call it (it contains barriers), and it ends
// with one so the caller may reuse `shared` at once.
__device__ inline float block_sum(float v, float* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kReduceThreads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  const float total = shared[0];
  __syncthreads();
  return total;
}

}  // namespace attn::cuda
