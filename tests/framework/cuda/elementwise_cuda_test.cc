// CUDA backend: device round trips and the elementwise kernels against the CPU results.
// Skips (saying why) when the build has no CUDA or the machine has no GPU.
#include "framework/ops/elementwise.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;

TEST_F(Cuda, HostDeviceRoundTrip) {
  Tensor h = test::random_normal({1000}, 1, DType::kF32, 1.0, false);
  Tensor d = h.to(Device::cuda());
  EXPECT_TRUE(d.device().is_cuda());
  EXPECT_EQ(d.to(Device::cpu()).to_vector<float>(), h.to_vector<float>());
}

TEST_F(Cuda, ElementwiseMatchesCpu) {
  Tensor a = test::random_normal({4097}, 2, DType::kF32, 1.0, false);
  Tensor b = test::random_normal({4097}, 3, DType::kF32, 1.0, false);
  Tensor ga = a.to(Device::cuda()), gb = b.to(Device::cuda());
  Tensor cpu = mul(add(a, b), scale(sub(a, b), 0.5));
  Tensor gpu = mul(add(ga, gb), scale(sub(ga, gb), 0.5));
  std::vector<float> c = cpu.to_vector<float>(), g = gpu.to_vector<float>();
  for (size_t i = 0; i < c.size(); ++i) ASSERT_FLOAT_EQ(c[i], g[i]) << i;
}

}  // namespace
}  // namespace attn
