#include "layers/attention/kernels/topk_gates.h"

namespace attn::cpu {

namespace {

// Entry c is in the top k when fewer than k entries beat it (larger, or equal at a lower index):
// the stable descending order's first k, without sorting (cols is a few heads).
template <typename T>
bool in_top_k(const T* row, int64_t cols, int64_t k, int64_t c) {
  int64_t beaten_by = 0;
  for (int64_t e = 0; e < cols && beaten_by < k; ++e)
    beaten_by += row[e] > row[c] || (row[e] == row[c] && e < c);
  return beaten_by < k;
}

template <typename T>
double masked_sum(const T* row, const int32_t* m, int64_t cols) {
  double s = 0;
  for (int64_t c = 0; c < cols; ++c)
    if (m[c]) s += static_cast<double>(row[c]);
  return s;
}

}  // namespace

template <typename T>
void topk_gates_forward(const T* p, int64_t rows, int64_t cols, int64_t k, T* g, int32_t* mask) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = p + r * cols;
    int32_t* m = mask + r * cols;
    for (int64_t c = 0; c < cols; ++c) m[c] = in_top_k(row, cols, k, c);
    const double inv_s = 1.0 / masked_sum(row, m, cols);
    for (int64_t c = 0; c < cols; ++c)
      g[r * cols + c] =
          m[c] ? static_cast<T>(static_cast<double>(k) * static_cast<double>(row[c]) * inv_s)
               : T(0);
  }
}

template <typename T>
void topk_gates_backward(const T* p, const int32_t* mask, const T* g, const T* dg, int64_t rows,
                         int64_t cols, int64_t k, T* dp) {
  const double kd = static_cast<double>(k);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t* m = mask + r * cols;
    const double inv_s = 1.0 / masked_sum(p + r * cols, m, cols);
    double dot = 0;  // sum_e dg_e g_e
    for (int64_t c = 0; c < cols; ++c)
      dot += static_cast<double>(dg[r * cols + c]) * static_cast<double>(g[r * cols + c]);
    for (int64_t c = 0; c < cols; ++c)
      if (m[c])
        dp[r * cols + c] +=
            static_cast<T>(kd * inv_s * (static_cast<double>(dg[r * cols + c]) - dot / kd));
  }
}

template <typename T>
void topk_fraction(const int32_t* mask, int64_t rows, int64_t cols, T* fraction) {
  for (int64_t c = 0; c < cols; ++c) {
    int64_t count = 0;
    for (int64_t r = 0; r < rows; ++r) count += mask[r * cols + c];
    fraction[c] =
        static_cast<T>(static_cast<double>(count) / static_cast<double>(rows > 0 ? rows : 1));
  }
}

template void topk_gates_forward<float>(const float*, int64_t, int64_t, int64_t, float*, int32_t*);
template void topk_gates_forward<double>(const double*, int64_t, int64_t, int64_t, double*,
                                         int32_t*);
template void topk_gates_backward<float>(const float*, const int32_t*, const float*, const float*,
                                         int64_t, int64_t, int64_t, float*);
template void topk_gates_backward<double>(const double*, const int32_t*, const double*,
                                          const double*, int64_t, int64_t, int64_t, double*);
template void topk_fraction<float>(const int32_t*, int64_t, int64_t, float*);
template void topk_fraction<double>(const int32_t*, int64_t, int64_t, double*);

}  // namespace attn::cpu
