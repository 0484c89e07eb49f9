#include "framework/kernels/cuda/block_reduce.cuh"
#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/cross_entropy.h"
#include "framework/kernels/cuda/stream.h"

namespace attn::cuda {

namespace {

// One block per row (grid-stride over rows); the block walks the vocabulary in chunks of
// blockDim.x logits with an online max/sum-exp, so nothing of size [n, v] is allocated.
template <typename I>
__global__ void cross_entropy_forward_kernel(float* row_loss, float* lse, const float* logits,
                                             const I* targets, const float* weights, int64_t n,
                                             int64_t v, I ignore_index) {
  for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
    const float* x = logits + r * v;
    block_reduce::MaxSum acc;
    for (int64_t c = threadIdx.x; c < v; c += blockDim.x) acc.add(x[c]);
    const float l = block_reduce::block_max_sum(acc).lse();
    if (threadIdx.x == 0) {
      lse[r] = l;
      const I t = targets[r];
      if (t == ignore_index)
        row_loss[r] = 0.0f;
      else if (t < 0 || t >= v)
        row_loss[r] = NAN;  // never read out of bounds; the op rejects such targets first
      else
        row_loss[r] = (weights ? weights[r] : 1.0f) * (l - x[t]);
    }
  }
}

template <typename I>
__global__ void cross_entropy_backward_kernel(float* dlogits, const float* logits, const float* lse,
                                              const I* targets, const float* weights, int64_t n,
                                              int64_t v, I ignore_index, float scale,
                                              const float* dloss) {
  for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
    const I t = targets[r];
    if (t == ignore_index) continue;  // uniform across the block; no barriers below
    const float s = scale * (dloss ? *dloss : 1.0f) * (weights ? weights[r] : 1.0f);
    const float* x = logits + r * v;
    float* dx = dlogits + r * v;
    const float l = lse[r];
    for (int64_t c = threadIdx.x; c < v; c += blockDim.x) {
      // Same rounding steps as the CPU: add s * p, then subtract s at the target.
      float d = dx[c] + s * expf(x[c] - l);
      if (c == t) d -= s;
      dx[c] = d;
    }
  }
}

constexpr int kReduceThreads = 1024;

// Single block: thread i sums elements i, i + 1024, ... in order, then the fixed block tree.
__global__ void cross_entropy_reduce_kernel(float* loss, const float* row_loss, int64_t n,
                                            float scale) {
  float part = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) part += row_loss[i];
  const float total = block_reduce::block_sum(part);
  if (threadIdx.x == 0) *loss = scale * total;
}

}  // namespace

template <typename I>
void cross_entropy_forward(float* row_loss, float* lse, const float* logits, const I* targets,
                           const float* weights, int64_t n, int64_t v, I ignore_index) {
  if (n == 0) return;
  cross_entropy_forward_kernel<I>
      <<<block_reduce::blocks_for(n), block_reduce::threads_for(v), 0, compute_stream()>>>(
          row_loss, lse, logits, targets, weights, n, v, ignore_index);
  CUDA_CHECK(cudaGetLastError());
}

template <typename I>
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const I* targets,
                            const float* weights, int64_t n, int64_t v, I ignore_index, float scale,
                            const float* dloss) {
  if (n == 0 || v == 0) return;
  cross_entropy_backward_kernel<I>
      <<<block_reduce::blocks_for(n), block_reduce::threads_for(v), 0, compute_stream()>>>(
          dlogits, logits, lse, targets, weights, n, v, ignore_index, scale, dloss);
  CUDA_CHECK(cudaGetLastError());
}

void cross_entropy_reduce(float* loss, const float* row_loss, int64_t n, float scale) {
  // n == 0 still writes the loss (0), like the CPU sum over no rows.
  cross_entropy_reduce_kernel<<<1, kReduceThreads, 0, compute_stream()>>>(loss, row_loss, n, scale);
  CUDA_CHECK(cudaGetLastError());
}

#define ATTN_INSTANTIATE(I)                                                                    \
  template void cross_entropy_forward<I>(float*, float*, const float*, const I*, const float*, \
                                         int64_t, int64_t, I);                                 \
  template void cross_entropy_backward<I>(float*, const float*, const float*, const I*,        \
                                          const float*, int64_t, int64_t, I, float, const float*);
ATTN_INSTANTIATE(int32_t)
ATTN_INSTANTIATE(int64_t)
#undef ATTN_INSTANTIATE

}  // namespace attn::cuda
