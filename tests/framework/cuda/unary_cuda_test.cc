// CUDA activations against the CPU kernels on the same inputs, forward (through the op) and
// backward (the kernels). Tolerance: the CPU uses vectorised exp/erf approximations accurate to
// a few ulp, the GPU the CUDA math library: 2e-6 relative plus 1e-6 absolute.
#include <cmath>

#include "framework/kernels/cpu/unary.h"
#include "framework/kernels/cuda/unary.h"
#include "framework/ops/unary.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;

void expect_close(const std::vector<float>& want, const std::vector<float>& got, const char* what) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-6 + 2e-6 * std::abs(want[i])) << what << " element " << i;
}

TEST_F(Cuda, UnaryMatchesCpu) {
  const UnaryOp ops[] = {UnaryOp::kGeluErf, UnaryOp::kGeluTanh, UnaryOp::kSilu, UnaryOp::kSigmoid,
                         UnaryOp::kTanh,    UnaryOp::kExp,      UnaryOp::kLog};
  const int64_t n = 5003;  // not a multiple of the block size
  for (UnaryOp op : ops) {
    SCOPED_TRACE(static_cast<int>(op));
    std::vector<float> x = test::random_normal({n}, 7, DType::kF32, 2.0, false).to_vector<float>();
    if (op == UnaryOp::kLog)
      for (float& v : x) v = std::abs(v) + 0.05f;
    std::vector<float> dy = test::random_normal({n}, 8, DType::kF32, 1.0, false).to_vector<float>();
    std::vector<float> y(n), dx(n, 0.25f);
    cpu::unary_forward<float>(op, y.data(), x.data(), n);
    cpu::unary_backward<float>(op, dx.data(), dy.data(), x.data(), y.data(), n);

    const Tensor hx = Tensor::from_vector<float>({n}, x);
    Tensor gx = hx.to(Device::cuda());
    Tensor gy = Tensor::empty({n}, DType::kF32, Device::cuda());
    cuda::unary_forward(op, gy.data<float>(), gx.data<float>(), n);
    expect_close(y, gy.to(Device::cpu()).to_vector<float>(), "forward");
    Tensor gdy = Tensor::from_vector<float>({n}, dy).to(Device::cuda());
    Tensor gdx = Tensor::from_vector<float>({n}, std::vector<float>(n, 0.25f)).to(Device::cuda());
    cuda::unary_backward(op, gdx.data<float>(), gdy.data<float>(), gx.data<float>(),
                         gy.data<float>(), n);
    expect_close(dx, gdx.to(Device::cpu()).to_vector<float>(), "backward (accumulated)");
  }
}

TEST_F(Cuda, UnaryOpsRunOnTheTensorsDevice) {
  const Tensor x = test::random_normal({300}, 9, DType::kF32, 1.0, false);
  const Tensor g = gelu(x.to(Device::cuda()), GeluApprox::kTanh);
  EXPECT_TRUE(g.device().is_cuda());
  expect_close(gelu(x, GeluApprox::kTanh).to_vector<float>(),
               g.to(Device::cpu()).to_vector<float>(), "gelu op");
  EXPECT_THROW(silu(x.to(DType::kF64).to(Device::cuda())), Error);  // f32 only on CUDA
}

}  // namespace
}  // namespace attn
