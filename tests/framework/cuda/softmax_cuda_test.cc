// CUDA softmax / log-softmax against the CPU kernels and ops. The reference is the CPU code run in
// f64 on the same f32 inputs, so the tolerance bounds only the GPU's f32 rounding (expf to 2 ulp,
// tree sums): 1e-5 relative plus 1e-7 absolute for probabilities (down to 1/50257), 1e-5
// absolute for log-probabilities and gradients (values of order 1 that may cancel).
#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/softmax.h"
#include "framework/kernels/cuda/softmax.h"
#include "framework/ops/cross_entropy.h"
#include "framework/ops/softmax.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/framework/cuda/cuda_test_util.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;
using test::on_gpu;
using test::randn;

void expect_close(const std::vector<double>& want, const std::vector<float>& got, double atol,
                  const char* what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], atol + 1e-5 * std::abs(want[i])) << what << " element " << i;
}

// Kernel level, both variants: a single element, rows off the block size, a 50257 vocabulary
// row (1024-thread blocks, ~49 logits per thread), and more rows than blocks in the grid
// (2^20 + 5, so blocks take several rows in turn). Backward accumulates into dx = 0.25.
TEST_F(Cuda, SoftmaxKernelsMatchCpu) {
  const std::pair<int64_t, int64_t> sizes[] = {
      {1, 1}, {5, 3}, {7, 1000}, {3, 50257}, {(int64_t(1) << 20) + 5, 3}};
  uint64_t stream = 400;
  for (bool log : {false, true}) {
    for (auto [rows, cols] : sizes) {
      SCOPED_TRACE(testing::Message() << "log " << log << " rows " << rows << " cols " << cols);
      const int64_t n = rows * cols;
      const std::vector<float> x = randn(n, ++stream, 3.0), dy = randn(n, ++stream, 1.0);
      std::vector<double> y(n), dx(n, 0.25);
      const std::vector<double> xd(x.begin(), x.end()), dyd(dy.begin(), dy.end());
      cpu::softmax_forward<double>(y.data(), xd.data(), rows, cols, log);

      Tensor gx = on_gpu(x), gy = Tensor::empty({n}, DType::kF32, Device::cuda());
      cuda::softmax_forward(gy.data<float>(), gx.data<float>(), rows, cols, log);
      const std::vector<float> y32 = gy.to_vector<float>();
      expect_close(y, y32, log ? 1e-5 : 1e-7, "y");

      // Backward from the GPU's y; the reference uses the same (f32) values.
      const std::vector<double> y32d(y32.begin(), y32.end());
      cpu::softmax_backward<double>(dx.data(), dyd.data(), y32d.data(), rows, cols, log);
      Tensor gdx = on_gpu(std::vector<float>(n, 0.25f)), gdy = on_gpu(dy);
      cuda::softmax_backward(gdx.data<float>(), gdy.data<float>(), gy.data<float>(), rows, cols,
                             log);
      expect_close(dx, gdx.to_vector<float>(), 1e-5, "dx (accumulated)");
    }
  }
}

TEST_F(Cuda, SoftmaxKernelsHandleExtremeRows) {
  // Large logits, -inf entries (masked: probability 0), and in place (y aliases x).
  const float inf = INFINITY;
  const std::vector<float> x = {1000, -1000, 0, 500, 501, 499, -inf, 2, -inf, -inf, 7, -inf};
  const int64_t rows = 4, cols = 3;
  for (bool log : {false, true}) {
    std::vector<double> y(x.size());
    const std::vector<double> xd(x.begin(), x.end());
    cpu::softmax_forward<double>(y.data(), xd.data(), rows, cols, log);
    Tensor g = on_gpu(x);
    cuda::softmax_forward(g.data<float>(), g.data<float>(), rows, cols, log);
    const std::vector<float> got = g.to_vector<float>();
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::isinf(y[i])) {
        EXPECT_EQ(got[i], static_cast<float>(y[i])) << i;
      } else {
        EXPECT_NEAR(got[i], y[i], 1e-5 * (1 + std::abs(y[i]))) << i;
      }
    }
  }
  // Empty inputs launch nothing.
  cuda::softmax_forward(nullptr, nullptr, 0, 5, false);
  cuda::softmax_backward(nullptr, nullptr, nullptr, 0, 5, true);
}

// Op level: GPU op (f32) against the CPU op in f64, through a cross-entropy head; the input's
// gradient starts at 0.25.
TEST_F(Cuda, SoftmaxOpsMatchCpu) {
  const Tensor x = test::random_normal({3, 5, 1001}, 501, DType::kF32, 2.0, false);
  const Tensor targets = test::random_ids({3, 5}, 1001, 502);
  for (bool log : {false, true}) {
    SCOPED_TRACE(log);
    auto run = [&](Device device, DType dtype) {
      Tensor xi = x.to(dtype).to(device).set_requires_grad();
      xi.set_grad(Tensor::full(xi.shape(), 0.25, dtype, device));
      Tensor y = log ? log_softmax(xi) : softmax(xi);
      EXPECT_EQ(y.device(), device);
      backward(cross_entropy(y, targets.to(device)));
      return std::vector<std::vector<double>>{y.to_vector<double>(), xi.grad().to_vector<double>()};
    };
    const auto want = run(Device::cpu(), DType::kF64);
    const auto got = run(Device::cuda(), DType::kF32);
    expect_close(want[0], std::vector<float>(got[0].begin(), got[0].end()), log ? 1e-5 : 1e-7, "y");
    expect_close(want[1], std::vector<float>(got[1].begin(), got[1].end()), 1e-5, "dx");
  }
  EXPECT_THROW(softmax(Tensor::zeros({2, 3}, DType::kF64, Device::cuda())), Error);  // f32 only
}

}  // namespace
}  // namespace attn
