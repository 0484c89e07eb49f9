// CUDA document shift (f32): one thread per element; the document of a token is found by a
// binary search of cu (a few hundred documents at most per batch).
#include <algorithm>

#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/stream.h"
#include "layers/kernels/document_shift.h"

namespace attn::cuda {

namespace {

constexpr int kThreads = 256;

// The document b with cu[b] <= t < cu[b + 1].
__device__ int64_t document_of(const int32_t* cu, int64_t docs, int64_t t) {
  int64_t lo = 0, hi = docs - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (cu[mid] <= t)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

// backward = false: y[t] = x[t - s] inside the document; true: dx[t] += dy[t + s].
__global__ void shift_kernel(const float* in, const int32_t* cu, int64_t docs, int64_t tokens,
                             int64_t cols, int64_t s, float* out, bool backward) {
  const int64_t total = tokens * cols;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = e / cols, c = e % cols, b = document_of(cu, docs, t);
    if (!backward) {
      out[e] = t - s >= cu[b] ? in[(t - s) * cols + c] : 0.0f;
    } else if (t + s < cu[b + 1]) {
      out[e] += in[(t + s) * cols + c];
    }
  }
}

void launch(const float* in, const int32_t* cu, int64_t docs, int64_t tokens, int64_t cols,
            int64_t s, float* out, bool backward) {
  const int64_t total = tokens * cols;
  if (total == 0 || docs == 0) return;
  const auto blocks =
      static_cast<unsigned>(std::min<int64_t>((total + kThreads - 1) / kThreads, 65535));
  shift_kernel<<<blocks, kThreads, 0, compute_stream()>>>(in, cu, docs, tokens, cols, s, out,
                                                          backward);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void document_shift(const float* x, const int32_t* cu, int64_t docs, int64_t tokens, int64_t cols,
                    int64_t s, float* y) {
  launch(x, cu, docs, tokens, cols, s, y, false);
}

void document_shift_backward(const float* dy, const int32_t* cu, int64_t docs, int64_t tokens,
                             int64_t cols, int64_t s, float* dx) {
  launch(dy, cu, docs, tokens, cols, s, dx, true);
}

}  // namespace attn::cuda
