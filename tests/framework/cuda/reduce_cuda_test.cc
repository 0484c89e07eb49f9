// CUDA axis sums and broadcasts against the CPU kernels and ops on the same inputs, over shapes
// that take each path: row sums in one block or two passes (n above 8192), column sums in one
// or two passes (n above 128), n = 0, n = 1. Tolerance for a sum: 1e-5 times (|alpha| times the
// sum of the magnitudes of its terms, plus |old value|) plus 1e-6. Both sides sum in f32 in
// different fixed orders; each rounding error is at most 6e-8 of a partial sum, which is at
// most that magnitude, and the orders are balanced enough that error never nears 1e-5 of it.
// Broadcasts (one multiply-add per element, possibly fused) get 1e-6 relative.
#include <cmath>
#include <functional>

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/reduce.h"
#include "framework/kernels/cuda/reduce.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/framework/cuda/cuda_test_util.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;
using test::host;

struct Dims {
  int64_t outer, n, inner;
};

// sum_axis on the device with its scratch, as the ops call it.
void device_sum(Tensor& out, const Tensor& x, Dims d, float alpha, bool accumulate) {
  const int64_t floats = cuda::sum_axis_scratch(d.outer, d.n, d.inner);
  Tensor scratch;
  if (floats > 0) scratch = Tensor::empty({floats}, DType::kF32, Device::cuda());
  cuda::sum_axis(out.data<float>(), x.data<float>(), d.outer, d.n, d.inner, alpha, accumulate,
                 floats > 0 ? scratch.data<float>() : nullptr);
}

void check_sum(Dims d) {
  SCOPED_TRACE(testing::Message() << "[" << d.outer << ", " << d.n << ", " << d.inner << "]");
  const int64_t numel = d.outer * d.n * d.inner, outs = d.outer * d.inner;
  const std::vector<float> x =
      test::random_normal({numel}, 80, DType::kF32, 1.0, false).to_vector<float>();
  std::vector<double> magnitude(outs, 0.0);  // sum of |terms| of each output
  for (int64_t o = 0; o < d.outer; ++o)
    for (int64_t r = 0; r < d.n; ++r)
      for (int64_t i = 0; i < d.inner; ++i)
        magnitude[o * d.inner + i] += std::abs(x[(o * d.n + r) * d.inner + i]);
  const Tensor g_x = Tensor::from_vector<float>({numel}, x, Device::cuda());
  // Plain sum (alpha 1), then an accumulating mean-like sum onto 0.25.
  for (const bool accumulate : {false, true}) {
    const float alpha = accumulate ? 0.37f : 1.0f, start = accumulate ? 0.25f : 0.0f;
    std::vector<float> want(outs, start);
    cpu::sum_axis<float>(want.data(), x.data(), d.outer, d.n, d.inner, alpha, accumulate);
    Tensor out = Tensor::full({outs}, start, DType::kF32, Device::cuda());
    device_sum(out, g_x, d, alpha, accumulate);
    const std::vector<float> got = host(out);
    for (int64_t k = 0; k < outs; ++k)
      ASSERT_NEAR(got[k], want[k], 1e-6 + 1e-5 * (alpha * magnitude[k] + start))
          << "output " << k << (accumulate ? " (accumulated)" : "");
    // Fixed partition: a second run gives the same bits.
    Tensor again = Tensor::full({outs}, start, DType::kF32, Device::cuda());
    device_sum(again, g_x, d, alpha, accumulate);
    EXPECT_EQ(host(again), got) << "determinism";
  }

  const std::vector<float> dout =
      test::random_normal({outs}, 81, DType::kF32, 1.0, false).to_vector<float>();
  std::vector<float> dx(numel, 0.25f);
  cpu::broadcast_axis_accumulate<float>(dx.data(), dout.data(), d.outer, d.n, d.inner, 0.37f);
  Tensor g_dx = Tensor::full({numel}, 0.25, DType::kF32, Device::cuda());
  const Tensor g_dout = Tensor::from_vector<float>({outs}, dout, Device::cuda());
  cuda::broadcast_axis_accumulate(g_dx.data<float>(), g_dout.data<float>(), d.outer, d.n, d.inner,
                                  0.37f);
  const std::vector<float> got = host(g_dx);
  for (int64_t k = 0; k < numel; ++k)
    ASSERT_NEAR(got[k], dx[k], 1e-6 * (1.0 + std::abs(dx[k]))) << "broadcast element " << k;
}

TEST_F(Cuda, SumAxisKernelsMatchCpu) {
  const Dims shapes[] = {
      {1, 1, 1},     {1, 8192, 1}, {1, 8193, 1},  {1, 100003, 1}, {3, 20000, 1},
      {70000, 5, 1}, {5, 7, 1},    {1, 300, 257}, {4, 129, 33},   {2, 128, 5},
      {2, 1, 5},     {3, 0, 4},    {3, 0, 1},     {1, 5000, 3},
  };
  for (const Dims& d : shapes) check_sum(d);
}

TEST_F(Cuda, ReduceOpsMatchCpu) {
  const Tensor x_host = test::random_normal({5, 301, 7}, 82, DType::kF32, 1.0, false);
  const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> ops = {
      {"sum axis 1", [](const Tensor& x) { return sum(x, 1); }},
      {"mean axis -1 keepdim", [](const Tensor& x) { return mean(x, -1, true); }},
      {"sum axis 0", [](const Tensor& x) { return sum(x, 0); }},
      {"sum all", [](const Tensor& x) { return sum(x); }},
      {"mean all", [](const Tensor& x) { return mean(x); }},
  };
  std::vector<float> abs_values = x_host.to_vector<float>();
  for (float& v : abs_values) v = std::abs(v);
  const Tensor abs_x = Tensor::from_vector<float>(x_host.shape(), abs_values);
  for (const auto& [name, f] : ops) {
    SCOPED_TRACE(name);
    std::vector<float> magnitude;  // the op on |x|: alpha times the sum of |terms|
    {
      NoGrad no_grad;
      magnitude = f(abs_x).to_vector<float>();
    }
    std::vector<float> want_y, want_dx;
    for (const Device device : {Device::cpu(), Device::cuda()}) {
      Tensor x = device.is_cpu() ? x_host.clone() : x_host.to(device);
      x.set_requires_grad();
      x.set_grad(Tensor::full(x.shape(), 0.5, DType::kF32, device));
      Tensor y = f(x);
      Tensor w = test::random_normal(y.shape(), 83, DType::kF32, 1.0, false).to(device);
      backward(sum(mul(y, w)));
      if (device.is_cpu()) {
        want_y = host(y);
        want_dx = host(x.grad());
        continue;
      }
      EXPECT_TRUE(y.device().is_cuda());
      const std::vector<float> got_y = host(y), got_dx = host(x.grad());
      ASSERT_EQ(got_y.size(), want_y.size());
      for (size_t k = 0; k < want_y.size(); ++k)
        ASSERT_NEAR(got_y[k], want_y[k], 1e-6 + 1e-5 * magnitude[k]) << "forward " << k;
      for (size_t k = 0; k < want_dx.size(); ++k)
        ASSERT_NEAR(got_dx[k], want_dx[k], 1e-6 * (1.0 + std::abs(want_dx[k]))) << "grad " << k;
    }
  }
}

}  // namespace
}  // namespace attn
