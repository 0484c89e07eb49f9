#include "framework/kernels/cuda/block_reduce.cuh"
#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/softmax.h"
#include "framework/kernels/cuda/stream.h"

namespace attn::cuda {

namespace {

// One block per row (grid-stride over rows); the row is read once for its online max/sum-exp,
// then once more to write y, so rows of any length (a 50k vocabulary) need no extra memory.
__global__ void softmax_forward_kernel(float* y, const float* x, int64_t rows, int64_t cols,
                                       bool log) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    block_reduce::MaxSum acc;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) acc.add(xr[c]);
    const block_reduce::MaxSum total = block_reduce::block_max_sum(acc);
    if (log) {
      const float lse = total.lse();
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = xr[c] - lse;
    } else {
      const float inv = 1.0f / total.s;
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = expf(xr[c] - total.m) * inv;
    }
  }
}

__global__ void softmax_backward_kernel(float* dx, const float* dy, const float* y, int64_t rows,
                                        int64_t cols, bool log) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* dyr = dy + r * cols;
    const float* yr = y + r * cols;
    float* dxr = dx + r * cols;
    float part = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) part += log ? dyr[c] : dyr[c] * yr[c];
    const float s = block_reduce::block_sum(part);
    if (log) {
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) dxr[c] += dyr[c] - expf(yr[c]) * s;
    } else {
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) dxr[c] += yr[c] * (dyr[c] - s);
    }
  }
}

}  // namespace

void softmax_forward(float* y, const float* x, int64_t rows, int64_t cols, bool log) {
  if (rows == 0 || cols == 0) return;
  softmax_forward_kernel<<<block_reduce::blocks_for(rows), block_reduce::threads_for(cols), 0,
                           compute_stream()>>>(y, x, rows, cols, log);
  CUDA_CHECK(cudaGetLastError());
}

void softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols,
                      bool log) {
  if (rows == 0 || cols == 0) return;
  softmax_backward_kernel<<<block_reduce::blocks_for(rows), block_reduce::threads_for(cols), 0,
                            compute_stream()>>>(dx, dy, y, rows, cols, log);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace attn::cuda
