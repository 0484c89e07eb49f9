#include "layers/attention/kernels/affine_combine.h"

#include <algorithm>
#include <vector>

namespace attn::cpu {

namespace {

// Columns of a running mean go to threads in blocks: each column's sum stays in one thread, in
// token order, so any thread count gives the same bits.
constexpr int64_t kColumnBlock = 64;

// adjoint = false: out[i] = mean_{j <= i in doc} in[j] over [tokens, cols] rows (vbar from v).
// adjoint = true: out[j] += sum_{i >= j in doc} in[i] / N_i, its adjoint (dv from dvbar), the
// reverse cumulative sum.
template <typename T>
void causal_mean(const int32_t* cu, int64_t docs, int64_t cols, const T* in, T* out, bool adjoint) {
  const int64_t blocks = (cols + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) collapse(2)
  for (int64_t b = 0; b < docs; ++b)
    for (int64_t cb = 0; cb < blocks; ++cb) {
      const int64_t c0 = cb * kColumnBlock, c1 = std::min(cols, c0 + kColumnBlock);
      double acc[kColumnBlock] = {};
      const int64_t n = cu[b + 1] - cu[b];
      for (int64_t step = 0; step < n; ++step) {
        const int64_t i = adjoint ? cu[b + 1] - 1 - step : cu[b] + step;
        const double inv_n = 1.0 / static_cast<double>(i - cu[b] + 1);
        for (int64_t c = c0; c < c1; ++c) {
          if (adjoint) {
            acc[c - c0] += static_cast<double>(in[i * cols + c]) * inv_n;
            out[i * cols + c] += static_cast<T>(acc[c - c0]);
          } else {
            acc[c - c0] += static_cast<double>(in[i * cols + c]);
            out[i * cols + c] = static_cast<T>(acc[c - c0] * inv_n);
          }
        }
      }
    }
}

}  // namespace

template <typename T>
void affine_combine_forward(const AffineCombineShape& s, const T* o, const T* v, const T* z,
                            const T* alpha_ma, T* vbar, T* alpha, T* y) {
  const int64_t heads = s.heads, dv = s.dv, group = s.heads / s.kv_heads;
  causal_mean(s.cu, s.docs, s.kv_heads * dv, v, vbar, false);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.tokens; ++i)
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t r = i * heads + h;
      const T a = static_cast<T>(affine_clip(s.sigmoid, static_cast<double>(z[r])));
      const T b = alpha_ma[h] - a;
      alpha[r] = a;
      const T* vrow = vbar + (i * s.kv_heads + h / group) * dv;
      for (int64_t c = 0; c < dv; ++c) y[r * dv + c] = a * o[r * dv + c] + b * vrow[c];
    }
}

template <typename T>
void affine_combine_backward(const AffineCombineShape& s, const T* dy, const T* o, const T* z,
                             const T* alpha_ma, const T* vbar, const T* alpha, T* do_, T* dz,
                             T* dv) {
  const int64_t heads = s.heads, d = s.dv, kvh = s.kv_heads, group = s.heads / s.kv_heads;
  std::vector<T> dvbar(dv ? static_cast<size_t>(s.tokens * kvh * d) : 0, T(0));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.tokens; ++i)
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t r = i * heads + h;
      const T a = alpha[r], b = alpha_ma[h] - a;
      const T* dyr = dy + r * d;
      const T* vrow = vbar + (i * kvh + h / group) * d;
      if (do_)
        for (int64_t c = 0; c < d; ++c) do_[r * d + c] += a * dyr[c];
      if (dz) {
        double dalpha = 0;
        for (int64_t c = 0; c < d; ++c)
          dalpha += static_cast<double>(dyr[c]) * (o[r * d + c] - vrow[c]);
        dz[r] += static_cast<T>(dalpha * affine_clip_slope(s.sigmoid, static_cast<double>(z[r])));
      }
      if (dv) {
        T* dvb = dvbar.data() + (i * kvh + h / group) * d;
        for (int64_t c = 0; c < d; ++c) dvb[c] += b * dyr[c];
      }
    }
  if (dv) causal_mean(s.cu, s.docs, kvh * d, dvbar.data(), dv, true);
}

template void affine_combine_forward<float>(const AffineCombineShape&, const float*, const float*,
                                            const float*, const float*, float*, float*, float*);
template void affine_combine_forward<double>(const AffineCombineShape&, const double*,
                                             const double*, const double*, const double*, double*,
                                             double*, double*);
template void affine_combine_backward<float>(const AffineCombineShape&, const float*, const float*,
                                             const float*, const float*, const float*, const float*,
                                             float*, float*, float*);
template void affine_combine_backward<double>(const AffineCombineShape&, const double*,
                                              const double*, const double*, const double*,
                                              const double*, const double*, double*, double*,
                                              double*);

}  // namespace attn::cpu
