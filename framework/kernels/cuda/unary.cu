#include "framework/kernels/cuda/pointwise.cuh"
#include "framework/kernels/cuda/unary.h"

namespace attn::cuda {

namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kGeluC = 0.79788456080286536f;  // sqrt(2/pi)
constexpr float kGeluA = 0.044715f;

__device__ float sigmoid(float x) {
  return 1.0f / (1.0f + expf(-x));
}

// The derivative of each op, from x and (where cheaper) y = f(x).
__device__ float derivative(UnaryOp op, float x, float y) {
  switch (op) {
    case UnaryOp::kGeluErf:
      return 0.5f * (1.0f + erff(x * kInvSqrt2)) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
    case UnaryOp::kGeluTanh: {
      const float t = tanhf(kGeluC * (x + kGeluA * x * x * x));
      return 0.5f * (1.0f + t) +
             0.5f * x * (1.0f - t * t) * kGeluC * (1.0f + 3.0f * kGeluA * x * x);
    }
    case UnaryOp::kSilu: {
      const float s = sigmoid(x);
      return s * (1.0f + x * (1.0f - s));
    }
    case UnaryOp::kSigmoid:
      return y * (1.0f - y);
    case UnaryOp::kTanh:
      return 1.0f - y * y;
    case UnaryOp::kExp:
      return y;
    case UnaryOp::kLog:
      return 1.0f / x;
    case UnaryOp::kRelu:
      return x > 0.0f ? 1.0f : 0.0f;
  }
  return 0.0f;
}

__device__ float apply(UnaryOp op, float x) {
  switch (op) {
    case UnaryOp::kGeluErf:
      return 0.5f * x * (1.0f + erff(x * kInvSqrt2));
    case UnaryOp::kGeluTanh:
      return 0.5f * x * (1.0f + tanhf(kGeluC * (x + kGeluA * x * x * x)));
    case UnaryOp::kSilu:
      return x * sigmoid(x);
    case UnaryOp::kSigmoid:
      return sigmoid(x);
    case UnaryOp::kTanh:
      return tanhf(x);
    case UnaryOp::kExp:
      return expf(x);
    case UnaryOp::kLog:
      return logf(x);
    case UnaryOp::kRelu:
      return fmaxf(x, 0.0f);
  }
  return 0.0f;
}

}  // namespace

// The op is a kernel argument, not a template parameter: the switch is uniform across a warp,
// and these kernels are memory bound (so is the bias's index division).
void unary_forward(UnaryOp op, float* y, const float* x, int64_t n, const float* bias,
                   int64_t cols) {
  if (bias == nullptr)
    return launch_pointwise(n, [=] __device__(int64_t i) { y[i] = apply(op, x[i]); });
  launch_pointwise(n, [=] __device__(int64_t i) { y[i] = apply(op, x[i] + bias[i % cols]); });
}

void unary_backward(UnaryOp op, float* dx, const float* dy, const float* x, const float* y,
                    int64_t n, const float* bias, int64_t cols) {
  if (bias == nullptr)
    return launch_pointwise(
        n, [=] __device__(int64_t i) { dx[i] += dy[i] * derivative(op, x[i], y[i]); });
  launch_pointwise(n, [=] __device__(int64_t i) {
    dx[i] += dy[i] * derivative(op, x[i] + bias[i % cols], y[i]);
  });
}

}  // namespace attn::cuda
