// Kernels of affine-scaled attention's combination (SPEC-attention section 4) over raw pointers:
//   alpha = clip(z),  vbar_i = mean of v over the causal prefix of i's document,
//   y_ih = alpha_ih o_ih + (alpha_ma_h - alpha_ih) vbar_i,g(h)      (g(h): h's kv head)
// The CPU kernels (any float type) and the CUDA kernels (f32, device pointers) compute the same;
// the CPU ones are bit-identical for any thread count. The op is layers/attention/ops/.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define ATTN_AFFINE_HD __host__ __device__
#else
#define ATTN_AFFINE_HD
#endif

namespace attn {

// alpha = clip(z): sigmoid(z), or the hard clamp(0.1 z + 0.5, 0, 1); in double on host and
// device alike.
inline ATTN_AFFINE_HD double affine_clip(bool sigmoid, double z) {
  if (sigmoid) return 1.0 / (1.0 + exp(-z));
  const double a = 0.1 * z + 0.5;
  return a < 0.0 ? 0.0 : (a > 1.0 ? 1.0 : a);
}

// d clip / dz (0 where the hard clamp is flat).
inline ATTN_AFFINE_HD double affine_clip_slope(bool sigmoid, double z) {
  if (sigmoid) {
    const double s = 1.0 / (1.0 + exp(-z));
    return s * (1.0 - s);
  }
  const double a = 0.1 * z + 0.5;
  return a > 0.0 && a < 1.0 ? 0.1 : 0.0;
}

struct AffineCombineShape {
  int64_t tokens = 0, heads = 0, kv_heads = 0, dv = 0;
  const int32_t* cu = nullptr;  // [docs + 1] document boundaries (host for CPU, device for CUDA)
  int64_t docs = 0;
  bool sigmoid = true;  // clip: sigmoid(z), else the hard clamp(0.1 z + 0.5, 0, 1)
};

namespace cpu {

// vbar [tokens, kv_heads, dv] and alpha [tokens, heads] from v and z, then y [tokens, heads, dv]
// from o; alpha_ma [heads]. Running means accumulate in double (thousands of keys must not drift).
template <typename T>
void affine_combine_forward(const AffineCombineShape& s, const T* o, const T* v, const T* z,
                            const T* alpha_ma, T* vbar, T* alpha, T* y);

// Accumulates (+=) the gradients of y into do_ [tokens, heads, dv], dz [tokens, heads] and dv
// [tokens, kv_heads, dv] (any may be null), from the forward's vbar and alpha.
template <typename T>
void affine_combine_backward(const AffineCombineShape& s, const T* dy, const T* o, const T* z,
                             const T* alpha_ma, const T* vbar, const T* alpha, T* do_, T* dz,
                             T* dv);

}  // namespace cpu

namespace cuda {

void affine_combine_forward(const AffineCombineShape& s, const float* o, const float* v,
                            const float* z, const float* alpha_ma, float* vbar, float* alpha,
                            float* y);
void affine_combine_backward(const AffineCombineShape& s, const float* dy, const float* o,
                             const float* z, const float* alpha_ma, const float* vbar,
                             const float* alpha, float* do_, float* dz, float* dv);

}  // namespace cuda

}  // namespace attn
