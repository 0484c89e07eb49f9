#include "framework/kernels/cuda/block_reduce.cuh"
#include "framework/kernels/cuda/optimizer_step.h"
#include "framework/kernels/cuda/pointwise.cuh"

namespace attn::cuda {

void adamw_step(const AdamWStep& s, float* params, const float* grads, float* m, float* v,
                const float* decay_mask, int64_t n) {
  launch_pointwise(n, [=] __device__(int64_t i) {
    // Same operation order as the CPU loop; explicit intrinsics keep nvcc from contracting
    // the updates into FMAs the CPU does not use.
    float p = params[i];
    const float g = grads[i];
    p = __fsub_rn(p, __fmul_rn(__fmul_rn(s.decay, decay_mask[i]), p));
    const float mi = __fadd_rn(__fmul_rn(s.beta1, m[i]), __fmul_rn(1.0f - s.beta1, g));
    const float vi =
        __fadd_rn(__fmul_rn(s.beta2, v[i]), __fmul_rn(__fmul_rn(1.0f - s.beta2, g), g));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fmul_rn(__fsqrt_rn(vi), s.inv_bc2_sqrt), s.eps);
    params[i] = __fsub_rn(p, __fdiv_rn(__fmul_rn(s.step_size, mi), denom));
  });
}

void sgd_step(float lr, float momentum, float weight_decay, float* params, const float* grads,
              float* velocity, const float* decay_mask, int64_t n) {
  launch_pointwise(n, [=] __device__(int64_t i) {
    float d = grads[i];
    if (velocity) d = velocity[i] = __fadd_rn(__fmul_rn(momentum, velocity[i]), d);
    const float p = params[i];
    params[i] = __fsub_rn(
        p, __fmul_rn(lr, __fadd_rn(d, __fmul_rn(__fmul_rn(weight_decay, decay_mask[i]), p))));
  });
}

namespace {

// Fixed launch shape, independent of the GPU, so the partition (and the bits) never change.
constexpr int kSumBlocks = 256;
constexpr int kSumThreads = 256;

__global__ void sum_squares_partial(const float* x, int64_t n, double* partial) {
  double acc = 0;
  for (int64_t i = blockIdx.x * int64_t(kSumThreads) + threadIdx.x; i < n;
       i += int64_t(kSumBlocks) * kSumThreads)
    acc += double(x[i]) * double(x[i]);
  const double total = block_reduce::block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void sum_partials(double* partial) {
  const double total =
      block_reduce::block_sum(threadIdx.x < kSumBlocks ? partial[threadIdx.x] : 0.0);
  if (threadIdx.x == 0) partial[0] = total;
}

}  // namespace

double sum_squares(const float* x, int64_t n) {
  static_assert(kSumBlocks <= kSumThreads, "the second pass sums one partial per thread");
  if (n == 0) return 0.0;
  double* partial = nullptr;
  CUDA_CHECK(cudaMallocAsync(&partial, kSumBlocks * sizeof(double), compute_stream()));
  sum_squares_partial<<<kSumBlocks, kSumThreads, 0, compute_stream()>>>(x, n, partial);
  CUDA_CHECK(cudaGetLastError());
  sum_partials<<<1, kSumThreads, 0, compute_stream()>>>(partial);
  CUDA_CHECK(cudaGetLastError());
  double total = 0;
  CUDA_CHECK(
      cudaMemcpyAsync(&total, partial, sizeof(double), cudaMemcpyDeviceToHost, compute_stream()));
  CUDA_CHECK(cudaFreeAsync(partial, compute_stream()));
  CUDA_CHECK(cudaStreamSynchronize(compute_stream()));
  return total;
}

}  // namespace attn::cuda
