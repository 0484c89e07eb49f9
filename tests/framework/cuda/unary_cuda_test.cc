// CUDA activations against the CPU kernels on the same inputs, forward (through the op) and
// backward (the kernels). Tolerance: the CPU uses vectorised exp/erf approximations accurate to
// a few ulp, the GPU the CUDA math library: 2e-6 relative plus 1e-6 absolute.
#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/unary.h"
#include "framework/kernels/cuda/unary.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/unary.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;

void expect_close(const std::vector<float>& want, const std::vector<float>& got, const char* what,
                  double abs_tol = 1e-6) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], abs_tol + 2e-6 * std::abs(want[i])) << what << " element " << i;
}

// Without a bias over a flat array, and with a bias over rows of 61 (the fused bias + GELU).
TEST_F(Cuda, UnaryMatchesCpu) {
  const UnaryOp ops[] = {UnaryOp::kGeluErf, UnaryOp::kGeluTanh, UnaryOp::kSilu, UnaryOp::kSigmoid,
                         UnaryOp::kTanh,    UnaryOp::kExp,      UnaryOp::kLog,  UnaryOp::kRelu};
  const int64_t n = 5002, cols = 61;  // not a multiple of the block size
  for (bool with_bias : {false, true})
    for (UnaryOp op : ops) {
      SCOPED_TRACE(testing::Message() << "op " << static_cast<int>(op) << " bias " << with_bias);
      std::vector<float> x =
          test::random_normal({n}, 7, DType::kF32, 2.0, false).to_vector<float>();
      std::vector<float> b =
          test::random_normal({cols}, 10, DType::kF32, 0.5, false).to_vector<float>();
      if (op == UnaryOp::kLog)
        for (float& v : x) v = std::abs(v) + 0.6f;  // x + b stays positive
      std::vector<float> dy =
          test::random_normal({n}, 8, DType::kF32, 1.0, false).to_vector<float>();
      const float* hb = with_bias ? b.data() : nullptr;
      std::vector<float> y(n), dx(n, 0.25f);
      cpu::unary_forward<float>(op, y.data(), x.data(), n, hb, cols);
      cpu::unary_backward<float>(op, dx.data(), dy.data(), x.data(), y.data(), n, hb, cols);

      Tensor gx = Tensor::from_vector<float>({n}, x).to(Device::cuda());
      Tensor gb = Tensor::from_vector<float>({cols}, b).to(Device::cuda());
      const float* db = with_bias ? gb.data<float>() : nullptr;
      Tensor gy = Tensor::empty({n}, DType::kF32, Device::cuda());
      cuda::unary_forward(op, gy.data<float>(), gx.data<float>(), n, db, cols);
      expect_close(y, gy.to(Device::cpu()).to_vector<float>(), "forward");
      Tensor gdy = Tensor::from_vector<float>({n}, dy).to(Device::cuda());
      Tensor gdx = Tensor::from_vector<float>({n}, std::vector<float>(n, 0.25f)).to(Device::cuda());
      cuda::unary_backward(op, gdx.data<float>(), gdy.data<float>(), gx.data<float>(),
                           gy.data<float>(), n, db, cols);
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

  // The fused bias + GELU op, forward and both gradients.
  const Tensor x2 = test::random_normal({20, 15}, 11, DType::kF32, 1.0, false);
  const Tensor b2 = test::random_normal({15}, 12, DType::kF32, 1.0, false);
  auto run = [&](Device dev) {
    Tensor gx = x2.to(dev).set_requires_grad(), gb = b2.to(dev).set_requires_grad();
    Tensor y = bias_gelu(gx, gb, GeluApprox::kErf);
    backward(sum(mul(y, y)));
    return std::vector<Tensor>{y.to(Device::cpu()), gx.grad().to(Device::cpu()),
                               gb.grad().to(Device::cpu())};
  };
  const std::vector<Tensor> want = run(Device::cpu()), got = run(Device::cuda());
  // The bias gradient sums 20 rows in another order on each device: 1e-5 absolute.
  for (size_t i = 0; i < want.size(); ++i)
    expect_close(want[i].to_vector<float>(), got[i].to_vector<float>(), "bias_gelu op", 1e-5);
}

}  // namespace
}  // namespace attn
