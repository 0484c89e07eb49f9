#include "framework/kernels/cpu/elementwise.h"

#include "framework/core/threads.h"

namespace attn::cpu {

namespace {
constexpr int64_t kGrain = 1 << 15;

template <typename F>
void pointwise(int64_t n, F&& f) {
  parallel_chunks(n, kGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) f(i);
  });
}
}  // namespace

template <typename T>
void binary_forward(BinaryOp op, T* out, const T* a, const T* b, int64_t n) {
  switch (op) {
    case BinaryOp::kAdd:
      pointwise(n, [=](int64_t i) { out[i] = a[i] + b[i]; });
      break;
    case BinaryOp::kSub:
      pointwise(n, [=](int64_t i) { out[i] = a[i] - b[i]; });
      break;
    case BinaryOp::kMul:
      pointwise(n, [=](int64_t i) { out[i] = a[i] * b[i]; });
      break;
  }
}

template <typename T>
void axpy(T* y, T alpha, const T* x, int64_t n) {
  if (alpha == T(1))
    pointwise(n, [=](int64_t i) { y[i] += x[i]; });
  else
    pointwise(n, [=](int64_t i) { y[i] += alpha * x[i]; });
}

template <typename T>
void mul_accumulate(T* y, const T* a, const T* b, int64_t n) {
  pointwise(n, [=](int64_t i) { y[i] += a[i] * b[i]; });
}

template <typename T>
void scale(T* out, const T* x, T alpha, int64_t n) {
  pointwise(n, [=](int64_t i) { out[i] = alpha * x[i]; });
}

template <typename T>
void bias_add(T* out, const T* x, const T* bias, int64_t rows, int64_t cols) {
  parallel_chunks(rows, rows_per_chunk(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = x[r * cols + c] + bias[c];
    }
  });
}

template <typename T>
void scale_rows(T* out, const T* x, const T* s, int64_t rows, int64_t cols) {
  parallel_chunks(rows, rows_per_chunk(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T sr = s[r];
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = x[r * cols + c] * sr;
    }
  });
}

template <typename T>
void scale_rows_backward(T* dx, T* ds, const T* dy, const T* x, const T* s, int64_t rows,
                         int64_t cols) {
  parallel_chunks(rows, rows_per_chunk(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* dyr = dy + r * cols;
      if (dx) {
        const T sr = s[r];
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) dx[r * cols + c] += dyr[c] * sr;
      }
      if (ds) {
        T acc = 0;
        for (int64_t c = 0; c < cols; ++c) acc += dyr[c] * x[r * cols + c];
        ds[r] += acc;
      }
    }
  });
}

#define ATTN_INSTANTIATE(T)                                                   \
  template void binary_forward<T>(BinaryOp, T*, const T*, const T*, int64_t); \
  template void axpy<T>(T*, T, const T*, int64_t);                            \
  template void mul_accumulate<T>(T*, const T*, const T*, int64_t);           \
  template void scale<T>(T*, const T*, T, int64_t);                           \
  template void bias_add<T>(T*, const T*, const T*, int64_t, int64_t);        \
  template void scale_rows<T>(T*, const T*, const T*, int64_t, int64_t);      \
  template void scale_rows_backward<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t);
ATTN_INSTANTIATE(float)
ATTN_INSTANTIATE(double)
#undef ATTN_INSTANTIATE

}  // namespace attn::cpu
