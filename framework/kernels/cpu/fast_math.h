// exp() and erf() that compilers can vectorise inside `omp simd` loops: libm's scalar expf/erff
// are a call per element (~20% of attention time, ~10% of a GELU model's step). float only;
// the double overloads keep libm (gradient checks need full precision).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace attn::cpu {

inline float fast_exp(float x) {
  // Below this, expf underflows to (sub)normals: return exactly 0 (also for -inf, so masked
  // scores give probability 0). Above 88.72, expf overflows; inputs here are max-subtracted.
  const bool underflow = x < -87.33654f;
  // Plain comparisons, not fmin/fmax: those stay libm calls without -ffinite-math-only.
  x = x < -87.33654f ? -87.33654f : x;
  x = x > 88.72283f ? 88.72283f : x;
  // n = round(x / ln2) via the 1.5 * 2^23 trick (no libm call, vectorises).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  // r = x - n ln2 with ln2 split in two so n * ln2_hi is exact.
  const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float scale = std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
  return underflow ? 0.0f : p * scale;
}

inline double fast_exp(double x) {
  return std::exp(x);
}

// erf with absolute error <= 5e-7 in float arithmetic: Abramowitz & Stegun 7.1.26, erf(|x|) = 1 - t
// P(t) e^{-x^2} with t = 1 / (1 + p |x|). The absolute bound is what GELU needs (it adds erf to 1);
// relative error near 0 is larger, so do not use it where erf(x) itself is divided by small values.
inline float fast_erf(float x) {
  const float a = x < 0 ? -x : x;
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float r = 1.0f - p * t * fast_exp(-a * a);
  return x < 0 ? -r : r;
}

inline double fast_erf(double x) {
  return std::erf(x);
}

}  // namespace attn::cpu
