#include <algorithm>

#include "framework/kernels/cuda/bias.h"
#include "framework/kernels/cuda/block_reduce.cuh"
#include "framework/kernels/cuda/pointwise.cuh"

namespace attn::cuda {

namespace {

// Block b handles rows b, b + gridDim.x, ...: ds[r] += sum_c dy[r, c] x[r, c].
__global__ void row_dot_kernel(float* ds, const float* dy, const float* x, int64_t rows,
                               int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* dyr = dy + r * cols;
    const float* xr = x + r * cols;
    float acc = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += block_reduce::kFixedReduceThreads)
      acc += dyr[c] * xr[c];
    const float total = block_reduce::block_sum(acc);
    if (threadIdx.x == 0) ds[r] += total;
  }
}

}  // namespace

void bias_add(float* out, const float* x, const float* bias, int64_t rows, int64_t cols) {
  launch_pointwise(rows * cols, [=] __device__(int64_t i) { out[i] = x[i] + bias[i % cols]; });
}

void scale_rows(float* out, const float* x, const float* s, int64_t rows, int64_t cols) {
  launch_pointwise(rows * cols, [=] __device__(int64_t i) { out[i] = x[i] * s[i / cols]; });
}

void scale_rows_backward(float* dx, float* ds, const float* dy, const float* x, const float* s,
                         int64_t rows, int64_t cols) {
  if (dx != nullptr)
    launch_pointwise(rows * cols, [=] __device__(int64_t i) { dx[i] += dy[i] * s[i / cols]; });
  if (ds != nullptr && rows > 0) {
    const int64_t blocks = std::min<int64_t>(rows, 65535);
    row_dot_kernel<<<static_cast<unsigned>(blocks), block_reduce::kFixedReduceThreads, 0,
                     compute_stream()>>>(ds, dy, x, rows, cols);
    CUDA_CHECK(cudaGetLastError());
  }
}

}  // namespace attn::cuda
