// Helpers of the CPU-vs-CUDA tests: host copies, random vectors, device tensors, and one op run
// on either device with accumulating gradients.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "framework/core/tensor.h"

namespace attn::test {

// The values of t (any device) on the host.
std::vector<float> host(const Tensor& t);
// n values ~ N(shift, std^2), the same on every machine (Philox stream `stream`).
std::vector<float> randn(int64_t n, uint64_t stream, double std = 1.0, double shift = 0.0);
// A 1-D f32 tensor on the GPU holding v.
Tensor on_gpu(const std::vector<float>& v);

struct OpResult {
  std::vector<float> y;
  std::vector<std::vector<float>> grads;  // one per input
};

// f on copies of `inputs` placed on `device`, each requiring grad with its gradient seeded at
// 0.5 (so the backward must accumulate); loss sum(y * w), w ~ N(0, 1) from `weight_stream`.
OpResult run_op(Device device, const std::vector<Tensor>& inputs,
                const std::function<Tensor(const std::vector<Tensor>&)>& f, uint64_t weight_stream);

}  // namespace attn::test
