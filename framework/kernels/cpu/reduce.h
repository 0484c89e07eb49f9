// Sums along one axis of an array viewed as [outer, n, inner], and the matching broadcast.
// Every output element is summed in a fixed order, so results never depend on the thread count.
#pragma once

#include <cstdint>

namespace attn::cpu {

// out[o, i] (= or +=) alpha * sum_r x[o, r, i]
template <typename T>
void sum_axis(T* out, const T* x, int64_t outer, int64_t n, int64_t inner, T alpha,
              bool accumulate);

// dx[o, r, i] += alpha * dout[o, i]
template <typename T>
void broadcast_axis_accumulate(T* dx, const T* dout, int64_t outer, int64_t n, int64_t inner,
                               T alpha);

}  // namespace attn::cpu
