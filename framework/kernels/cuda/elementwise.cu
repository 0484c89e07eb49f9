#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/elementwise.h"

namespace attn::cuda {

namespace {
constexpr int kThreads = 256;

template <typename F>
__global__ void pointwise_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    f(i);
}

template <typename F>
void launch(int64_t n, F f) {
  if (n == 0) return;
  int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, 65535);
  pointwise_kernel<<<static_cast<unsigned>(blocks), kThreads>>>(n, f);
  CUDA_CHECK(cudaGetLastError());
}
}  // namespace

void binary_forward(BinaryOp op, float* out, const float* a, const float* b, int64_t n) {
  switch (op) {
    case BinaryOp::kAdd:
      return launch(n, [=] __device__(int64_t i) { out[i] = a[i] + b[i]; });
    case BinaryOp::kSub:
      return launch(n, [=] __device__(int64_t i) { out[i] = a[i] - b[i]; });
    case BinaryOp::kMul:
      return launch(n, [=] __device__(int64_t i) { out[i] = a[i] * b[i]; });
  }
}

void axpy(float* y, float alpha, const float* x, int64_t n) {
  launch(n, [=] __device__(int64_t i) { y[i] += alpha * x[i]; });
}

void mul_accumulate(float* y, const float* a, const float* b, int64_t n) {
  launch(n, [=] __device__(int64_t i) { y[i] += a[i] * b[i]; });
}

void scale(float* out, const float* x, float alpha, int64_t n) {
  launch(n, [=] __device__(int64_t i) { out[i] = alpha * x[i]; });
}

}  // namespace attn::cuda
