#include "tests/framework/cuda/cuda_test_util.h"

#include <gtest/gtest.h>

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "tests/support/random.h"

namespace attn::test {

std::vector<float> host(const Tensor& t) {
  return t.to(Device::cpu()).to_vector<float>();
}

std::vector<float> randn(int64_t n, uint64_t stream, double std, double shift) {
  std::vector<float> v = random_normal({n}, stream, DType::kF32, std, false).to_vector<float>();
  for (float& x : v) x += static_cast<float>(shift);
  return v;
}

Tensor on_gpu(const std::vector<float>& v) {
  return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v, Device::cuda());
}

OpResult run_op(Device device, const std::vector<Tensor>& inputs,
                const std::function<Tensor(const std::vector<Tensor>&)>& f,
                uint64_t weight_stream) {
  std::vector<Tensor> xs;
  for (const Tensor& h : inputs) {
    Tensor x = device.is_cpu() ? h.clone() : h.to(device);
    x.set_requires_grad();
    x.set_grad(Tensor::full(x.shape(), 0.5, DType::kF32, device));
    xs.push_back(x);
  }
  Tensor y = f(xs);
  EXPECT_EQ(y.device(), device);
  Tensor w = random_normal(y.shape(), weight_stream, DType::kF32, 1.0, false).to(device);
  backward(sum(mul(y, w)));
  OpResult r{host(y), {}};
  for (const Tensor& x : xs) r.grads.push_back(host(x.grad()));
  return r;
}

}  // namespace attn::test
