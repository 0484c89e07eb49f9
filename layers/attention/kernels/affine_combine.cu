// CUDA kernels of the affine combination (f32), the same arithmetic as affine_combine.cc: running
// means in double, one thread per (document, column) walking the document in token order.
#include <algorithm>

#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/stream.h"
#include "layers/attention/kernels/affine_combine.h"

namespace attn::cuda {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535));
}

// Grid: (column blocks, documents). reverse = false: vbar = running mean of v; true: dv += the
// adjoint (reverse cumsum of dvbar / N_i).
__global__ void causal_mean_kernel(const int32_t* cu, int64_t cols, const float* in, float* out,
                                   bool reverse) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  const int64_t b = blockIdx.y, start = cu[b], end = cu[b + 1];
  double acc = 0;
  if (!reverse) {
    for (int64_t i = start; i < end; ++i) {
      acc += static_cast<double>(in[i * cols + c]);
      out[i * cols + c] = static_cast<float>(acc / static_cast<double>(i - start + 1));
    }
  } else {
    for (int64_t i = end - 1; i >= start; --i) {
      acc += static_cast<double>(in[i * cols + c]) / static_cast<double>(i - start + 1);
      out[i * cols + c] += static_cast<float>(acc);
    }
  }
}

__global__ void combine_kernel(AffineCombineShape s, const float* o, const float* z,
                               const float* alpha_ma, const float* vbar, float* alpha, float* y) {
  const int64_t total = s.tokens * s.heads * s.dv, group = s.heads / s.kv_heads;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = e / s.dv, c = e % s.dv, i = r / s.heads, h = r % s.heads;
    const float a = static_cast<float>(affine_clip(s.sigmoid, static_cast<double>(z[r])));
    if (c == 0) alpha[r] = a;
    y[e] = a * o[e] + (alpha_ma[h] - a) * vbar[(i * s.kv_heads + h / group) * s.dv + c];
  }
}

// One thread per (token, head): do_ and dz of its row.
__global__ void combine_rows_backward_kernel(AffineCombineShape s, const float* dy, const float* o,
                                             const float* z, const float* vbar, const float* alpha,
                                             float* do_, float* dz) {
  const int64_t rows = s.tokens * s.heads, group = s.heads / s.kv_heads;
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = r / s.heads, h = r % s.heads;
    const float a = alpha[r];
    const float* vrow = vbar + (i * s.kv_heads + h / group) * s.dv;
    double dalpha = 0;
    for (int64_t c = 0; c < s.dv; ++c) {
      const float g = dy[r * s.dv + c];
      if (do_) do_[r * s.dv + c] += a * g;
      dalpha += static_cast<double>(g) * (o[r * s.dv + c] - vrow[c]);
    }
    if (dz)
      dz[r] += static_cast<float>(dalpha * affine_clip_slope(s.sigmoid, static_cast<double>(z[r])));
  }
}

// One thread per (token, kv head, column): dvbar sums its group's heads in order (no atomics).
__global__ void dvbar_kernel(AffineCombineShape s, const float* dy, const float* alpha_ma,
                             const float* alpha, float* dvbar) {
  const int64_t total = s.tokens * s.kv_heads * s.dv, group = s.heads / s.kv_heads;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = e % s.dv, g = (e / s.dv) % s.kv_heads, i = e / (s.dv * s.kv_heads);
    float acc = 0;
    for (int64_t h = g * group; h < (g + 1) * group; ++h) {
      const int64_t r = i * s.heads + h;
      acc += (alpha_ma[h] - alpha[r]) * dy[r * s.dv + c];
    }
    dvbar[e] = acc;
  }
}

void causal_mean(const AffineCombineShape& s, const float* in, float* out, bool reverse) {
  const int64_t cols = s.kv_heads * s.dv;
  if (s.docs == 0 || cols == 0) return;
  const dim3 grid(static_cast<unsigned>((cols + kThreads - 1) / kThreads),
                  static_cast<unsigned>(s.docs));
  causal_mean_kernel<<<grid, kThreads, 0, compute_stream()>>>(s.cu, cols, in, out, reverse);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void affine_combine_forward(const AffineCombineShape& s, const float* o, const float* v,
                            const float* z, const float* alpha_ma, float* vbar, float* alpha,
                            float* y) {
  causal_mean(s, v, vbar, false);
  const int64_t total = s.tokens * s.heads * s.dv;
  if (total == 0) return;
  combine_kernel<<<blocks_for(total), kThreads, 0, compute_stream()>>>(s, o, z, alpha_ma, vbar,
                                                                       alpha, y);
  CUDA_CHECK(cudaGetLastError());
}

void affine_combine_backward(const AffineCombineShape& s, const float* dy, const float* o,
                             const float* z, const float* alpha_ma, const float* vbar,
                             const float* alpha, float* do_, float* dz, float* dv) {
  const int64_t rows = s.tokens * s.heads;
  if (rows == 0 || s.dv == 0) return;
  if (do_ || dz) {
    combine_rows_backward_kernel<<<blocks_for(rows), kThreads, 0, compute_stream()>>>(
        s, dy, o, z, vbar, alpha, do_, dz);
    CUDA_CHECK(cudaGetLastError());
  }
  if (!dv) return;
  const int64_t n = s.tokens * s.kv_heads * s.dv;
  float* dvbar = nullptr;
  CUDA_CHECK(cudaMallocAsync(&dvbar, sizeof(float) * n, compute_stream()));
  dvbar_kernel<<<blocks_for(n), kThreads, 0, compute_stream()>>>(s, dy, alpha_ma, alpha, dvbar);
  CUDA_CHECK(cudaGetLastError());
  causal_mean(s, dvbar, dv, true);
  CUDA_CHECK(cudaFreeAsync(dvbar, compute_stream()));
}

}  // namespace attn::cuda
