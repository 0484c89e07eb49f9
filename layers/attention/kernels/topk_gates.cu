// CUDA kernels of MoH's routed gates (f32), the arithmetic of topk_gates.cc: one thread per row
// (a row is a few routed heads), one per column for the fractions.
#include <algorithm>

#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/stream.h"
#include "layers/attention/kernels/topk_gates.h"

namespace attn::cuda {

namespace {

constexpr int kThreads = 128;

unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535));
}

__device__ double masked_sum(const float* row, const int32_t* m, int64_t cols) {
  double s = 0;
  for (int64_t c = 0; c < cols; ++c)
    if (m[c]) s += static_cast<double>(row[c]);
  return s;
}

__global__ void forward_kernel(const float* p, int64_t rows, int64_t cols, int64_t k, float* g,
                               int32_t* mask) {
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float* row = p + r * cols;
    int32_t* m = mask + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      int64_t beaten_by = 0;  // larger entries, or equal ones at a lower index
      for (int64_t e = 0; e < cols; ++e)
        beaten_by += row[e] > row[c] || (row[e] == row[c] && e < c);
      m[c] = beaten_by < k;
    }
    const double inv_s = 1.0 / masked_sum(row, m, cols);
    for (int64_t c = 0; c < cols; ++c)
      g[r * cols + c] =
          m[c] ? static_cast<float>(static_cast<double>(k) * static_cast<double>(row[c]) * inv_s)
               : 0.0f;
  }
}

__global__ void backward_kernel(const float* p, const int32_t* mask, const float* g,
                                const float* dg, int64_t rows, int64_t cols, int64_t k, float* dp) {
  const double kd = static_cast<double>(k);
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int32_t* m = mask + r * cols;
    const double inv_s = 1.0 / masked_sum(p + r * cols, m, cols);
    double dot = 0;
    for (int64_t c = 0; c < cols; ++c)
      dot += static_cast<double>(dg[r * cols + c]) * static_cast<double>(g[r * cols + c]);
    for (int64_t c = 0; c < cols; ++c)
      if (m[c])
        dp[r * cols + c] +=
            static_cast<float>(kd * inv_s * (static_cast<double>(dg[r * cols + c]) - dot / kd));
  }
}

__global__ void fraction_kernel(const int32_t* mask, int64_t rows, int64_t cols, float* fraction) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  int64_t count = 0;
  for (int64_t r = 0; r < rows; ++r) count += mask[r * cols + c];
  fraction[c] =
      static_cast<float>(static_cast<double>(count) / static_cast<double>(rows > 0 ? rows : 1));
}

}  // namespace

void topk_gates_forward(const float* p, int64_t rows, int64_t cols, int64_t k, float* g,
                        int32_t* mask) {
  if (rows == 0 || cols == 0) return;
  forward_kernel<<<blocks_for(rows), kThreads, 0, compute_stream()>>>(p, rows, cols, k, g, mask);
  CUDA_CHECK(cudaGetLastError());
}

void topk_gates_backward(const float* p, const int32_t* mask, const float* g, const float* dg,
                         int64_t rows, int64_t cols, int64_t k, float* dp) {
  if (rows == 0 || cols == 0) return;
  backward_kernel<<<blocks_for(rows), kThreads, 0, compute_stream()>>>(p, mask, g, dg, rows, cols,
                                                                       k, dp);
  CUDA_CHECK(cudaGetLastError());
}

void topk_fraction(const int32_t* mask, int64_t rows, int64_t cols, float* fraction) {
  if (cols == 0) return;
  fraction_kernel<<<blocks_for(cols), kThreads, 0, compute_stream()>>>(mask, rows, cols, fraction);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace attn::cuda
