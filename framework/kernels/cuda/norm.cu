#include <algorithm>

#include "framework/kernels/cuda/block_reduce.cuh"
#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/norm.h"
#include "framework/kernels/cuda/stream.h"

namespace attn::cuda {

namespace {

// Rows per partial sum of dw/db: fixes the summation order independently of the launch shape.
constexpr int64_t kRowsPerPartial = 64;
constexpr int kColumnThreads = 256;

// One block per row (grid-stride over rows). Two passes over the row (mean, then the variance
// about it) as on the CPU, rather than E[x^2] - mu^2, which cancels badly. With a residual the
// row is the sum, written first: each thread reads back only the columns it wrote itself.
__global__ void norm_forward_kernel(bool center, float* y, float* mean, float* rstd, const float* x,
                                    const float* w, const float* b, int64_t rows, int64_t cols,
                                    float eps, const float* residual, float* sum) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    if (residual) {
      float* sr = sum + r * cols;
      const float* rr = residual + r * cols;
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sr[c] = xr[c] + rr[c];
      xr = sr;
    }
    float mu = 0.0f;
    if (center) {
      float part = 0.0f;
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) part += xr[c];
      mu = block_reduce::block_sum(part) / float(cols);
    }
    float part = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) part += (xr[c] - mu) * (xr[c] - mu);
    const float var = block_reduce::block_sum(part);
    const float rs = 1.0f / sqrtf(var / float(cols) + eps);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float v = (xr[c] - mu) * rs * w[c];
      yr[c] = b ? v + b[c] : v;
    }
    if (threadIdx.x == 0) {
      if (mean) mean[r] = mu;
      rstd[r] = rs;
    }
  }
}

// dx only; one block per row like the forward.
__global__ void norm_backward_dx_kernel(bool center, float* dx, const float* dy, const float* x,
                                        const float* w, const float* mean, const float* rstd,
                                        int64_t rows, int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    const float mu = center ? mean[r] : 0.0f, rs = rstd[r];
    float g_part = 0.0f, gx_part = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float g = dyr[c] * w[c];
      g_part += g;
      gx_part += g * (xr[c] - mu) * rs;
    }
    const float g_sum = block_reduce::block_sum(g_part);
    const float gx_mean = block_reduce::block_sum(gx_part) / float(cols);
    const float g_mean = center ? g_sum / float(cols) : 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
      dxr[c] += rs * (dyr[c] * w[c] - g_mean - (xr[c] - mu) * rs * gx_mean);
  }
}

// Partial column sums: thread column c of chunk k sums its 64 rows serially (coalesced across
// the block's columns). grid = (column tiles, chunks), grid-stride over chunks.
// pw, pb [chunks, cols]; either may be null.
__global__ void norm_partials_kernel(bool center, float* pw, float* pb, const float* dy,
                                     const float* x, const float* mean, const float* rstd,
                                     int64_t rows, int64_t cols, int64_t chunks) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  for (int64_t k = blockIdx.y; k < chunks; k += gridDim.y) {
    float sw = 0.0f, sb = 0.0f;
    const int64_t r1 = min(rows, (k + 1) * kRowsPerPartial);  // CUDA's device min
    for (int64_t r = k * kRowsPerPartial; r < r1; ++r) {
      const float g = dy[r * cols + c];
      const float mu = center ? mean[r] : 0.0f;
      sw += g * (x[r * cols + c] - mu) * rstd[r];
      sb += g;
    }
    if (pw) pw[k * cols + c] = sw;
    if (pb) pb[k * cols + c] = sb;
  }
}

// dw[c] += sum_k pw[k, c], db likewise, chunks in order.
__global__ void norm_params_kernel(float* dw, float* db, const float* pw, const float* pb,
                                   int64_t cols, int64_t chunks) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < cols;
       c += int64_t(gridDim.x) * blockDim.x) {
    float sw = 0.0f, sb = 0.0f;
    for (int64_t k = 0; k < chunks; ++k) {
      if (dw) sw += pw[k * cols + c];
      if (db) sb += pb[k * cols + c];
    }
    if (dw) dw[c] += sw;
    if (db) db[c] += sb;
  }
}

}  // namespace

void norm_forward(NormKind kind, float* y, float* mean, float* rstd, const float* x, const float* w,
                  const float* b, int64_t rows, int64_t cols, float eps, const float* residual,
                  float* sum) {
  if (rows == 0) return;
  norm_forward_kernel<<<block_reduce::blocks_for(rows), block_reduce::threads_for(cols), 0,
                        compute_stream()>>>(kind == NormKind::kLayerNorm, y, mean, rstd, x, w, b,
                                            rows, cols, eps, residual, sum);
  CUDA_CHECK(cudaGetLastError());
}

void norm_backward(NormKind kind, float* dx, float* dw, float* db, const float* dy, const float* x,
                   const float* w, const float* mean, const float* rstd, int64_t rows,
                   int64_t cols) {
  const bool center = kind == NormKind::kLayerNorm;
  if (rows == 0 || cols == 0) return;
  cudaStream_t stream = compute_stream();
  if (dx) {
    norm_backward_dx_kernel<<<block_reduce::blocks_for(rows), block_reduce::threads_for(cols), 0,
                              stream>>>(center, dx, dy, x, w, mean, rstd, rows, cols);
    CUDA_CHECK(cudaGetLastError());
  }
  if (!dw && !db) return;
  const int64_t chunks = (rows + kRowsPerPartial - 1) / kRowsPerPartial;
  // Stream-ordered scratch: no device-wide synchronisation (unlike cudaMalloc / cudaFree).
  const size_t one = static_cast<size_t>(chunks * cols);
  float* scratch = nullptr;
  CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&scratch), 2 * one * sizeof(float), stream));
  float* pw = dw ? scratch : nullptr;
  float* pb = db ? scratch + one : nullptr;
  const dim3 grid(static_cast<unsigned>((cols + kColumnThreads - 1) / kColumnThreads),
                  static_cast<unsigned>(std::min<int64_t>(chunks, 65535)));
  norm_partials_kernel<<<grid, kColumnThreads, 0, stream>>>(center, pw, pb, dy, x, mean, rstd, rows,
                                                            cols, chunks);
  CUDA_CHECK(cudaGetLastError());
  const int64_t blocks = std::min<int64_t>((cols + kColumnThreads - 1) / kColumnThreads, 65535);
  norm_params_kernel<<<static_cast<unsigned>(blocks), kColumnThreads, 0, stream>>>(dw, db, pw, pb,
                                                                                   cols, chunks);
  CUDA_CHECK(cudaGetLastError());
  CUDA_CHECK(cudaFreeAsync(scratch, stream));
}

}  // namespace attn::cuda
