#include "framework/kernels/cuda/elementwise.h"
#include "framework/kernels/cuda/pointwise.cuh"

namespace attn::cuda {

void binary_forward(BinaryOp op, float* out, const float* a, const float* b, int64_t n) {
  switch (op) {
    case BinaryOp::kAdd:
      return launch_pointwise(n, [=] __device__(int64_t i) { out[i] = a[i] + b[i]; });
    case BinaryOp::kSub:
      return launch_pointwise(n, [=] __device__(int64_t i) { out[i] = a[i] - b[i]; });
    case BinaryOp::kMul:
      return launch_pointwise(n, [=] __device__(int64_t i) { out[i] = a[i] * b[i]; });
  }
}

void axpy(float* y, float alpha, const float* x, int64_t n) {
  launch_pointwise(n, [=] __device__(int64_t i) { y[i] += alpha * x[i]; });
}

void mul_accumulate(float* y, const float* a, const float* b, int64_t n) {
  launch_pointwise(n, [=] __device__(int64_t i) { y[i] += a[i] * b[i]; });
}

void scale(float* out, const float* x, float alpha, int64_t n) {
  launch_pointwise(n, [=] __device__(int64_t i) { out[i] = alpha * x[i]; });
}

}  // namespace attn::cuda
