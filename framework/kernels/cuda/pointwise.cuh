// The grid-stride launcher every CUDA pointwise kernel uses: f(i) for i in [0, n) on the
// compute stream, launch errors checked.
#pragma once

#include <algorithm>
#include <cstdint>

#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/stream.h"

namespace attn::cuda {

namespace detail {

template <typename F>
__global__ void pointwise_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    f(i);
}

}  // namespace detail

template <typename F>
void launch_pointwise(int64_t n, F f) {
  constexpr int kThreads = 256;
  if (n == 0) return;
  const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, 65535);
  detail::pointwise_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, compute_stream()>>>(n, f);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace attn::cuda
