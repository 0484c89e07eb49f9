#include "framework/kernels/cpu/unary.h"

#include <cmath>
#include <numbers>

#include "framework/core/threads.h"

namespace attn::cpu {

namespace {
constexpr int64_t kGrain = 1 << 14;

template <typename F>
void pointwise(int64_t n, F&& f) {
  parallel_chunks(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}

template <typename T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// GELU with the tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
template <typename T>
struct GeluTanh {
  static constexpr T kC = T(0.7978845608028654);  // sqrt(2/pi)
  static constexpr T kA = T(0.044715);
  static T f(T x) { return T(0.5) * x * (T(1) + std::tanh(kC * (x + kA * x * x * x))); }
  static T df(T x) {
    T u = kC * (x + kA * x * x * x);
    T t = std::tanh(u);
    return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * kC * (T(1) + T(3) * kA * x * x);
  }
};
}  // namespace

template <typename T>
void unary_forward(UnaryOp op, T* y, const T* x, int64_t n) {
  const T inv_sqrt2 = T(1) / std::numbers::sqrt2_v<T>;
  switch (op) {
    case UnaryOp::kGeluErf:
      return pointwise(
          n, [=](int64_t i) { y[i] = T(0.5) * x[i] * (T(1) + std::erf(x[i] * inv_sqrt2)); });
    case UnaryOp::kGeluTanh:
      return pointwise(n, [=](int64_t i) { y[i] = GeluTanh<T>::f(x[i]); });
    case UnaryOp::kSilu:
      return pointwise(n, [=](int64_t i) { y[i] = x[i] * sigmoid(x[i]); });
    case UnaryOp::kSigmoid:
      return pointwise(n, [=](int64_t i) { y[i] = sigmoid(x[i]); });
    case UnaryOp::kTanh:
      return pointwise(n, [=](int64_t i) { y[i] = std::tanh(x[i]); });
    case UnaryOp::kExp:
      return pointwise(n, [=](int64_t i) { y[i] = std::exp(x[i]); });
    case UnaryOp::kLog:
      return pointwise(n, [=](int64_t i) { y[i] = std::log(x[i]); });
  }
}

template <typename T>
void unary_backward(UnaryOp op, T* dx, const T* dy, const T* x, const T* y, int64_t n) {
  const T inv_sqrt2 = T(1) / std::numbers::sqrt2_v<T>;
  const T inv_sqrt2pi = std::numbers::inv_sqrtpi_v<T> * inv_sqrt2;
  switch (op) {
    case UnaryOp::kGeluErf:
      return pointwise(n, [=](int64_t i) {
        T cdf = T(0.5) * (T(1) + std::erf(x[i] * inv_sqrt2));
        T pdf = inv_sqrt2pi * std::exp(T(-0.5) * x[i] * x[i]);
        dx[i] += dy[i] * (cdf + x[i] * pdf);
      });
    case UnaryOp::kGeluTanh:
      return pointwise(n, [=](int64_t i) { dx[i] += dy[i] * GeluTanh<T>::df(x[i]); });
    case UnaryOp::kSilu:
      return pointwise(n, [=](int64_t i) {
        T s = sigmoid(x[i]);
        dx[i] += dy[i] * s * (T(1) + x[i] * (T(1) - s));
      });
    case UnaryOp::kSigmoid:
      return pointwise(n, [=](int64_t i) { dx[i] += dy[i] * y[i] * (T(1) - y[i]); });
    case UnaryOp::kTanh:
      return pointwise(n, [=](int64_t i) { dx[i] += dy[i] * (T(1) - y[i] * y[i]); });
    case UnaryOp::kExp:
      return pointwise(n, [=](int64_t i) { dx[i] += dy[i] * y[i]; });
    case UnaryOp::kLog:
      return pointwise(n, [=](int64_t i) { dx[i] += dy[i] / x[i]; });
  }
}

template void unary_forward<float>(UnaryOp, float*, const float*, int64_t);
template void unary_forward<double>(UnaryOp, double*, const double*, int64_t);
template void unary_backward<float>(UnaryOp, float*, const float*, const float*, const float*,
                                    int64_t);
template void unary_backward<double>(UnaryOp, double*, const double*, const double*, const double*,
                                     int64_t);

}  // namespace attn::cpu
