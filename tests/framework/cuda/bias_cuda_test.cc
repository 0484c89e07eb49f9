// CUDA bias_add / scale_rows kernels against the CPU kernels, and the add_bias / scale_rows ops
// forward and accumulating backward against the CPU ops. Tolerances: pointwise results 1e-6
// relative (a product and a sum, which either compiler may fuse into one FMA); reductions (the
// bias gradient, the row dot products ds) 1e-6 plus 1e-5 times the sum of the magnitudes of
// their terms (both sides sum in f32, in different fixed orders; see reduce_cuda_test.cc).
#include <cmath>
#include <functional>

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/elementwise.h"
#include "framework/kernels/cuda/bias.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/framework/cuda/cuda_test_util.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;
using test::host;
using test::OpResult;
using test::randn;
using test::run_op;

Tensor device_copy(const std::vector<float>& v) {
  return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v, Device::cuda());
}

void expect_pointwise(const std::vector<float>& want, const std::vector<float>& got,
                      const char* what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-6 * (1.0 + std::abs(want[i]))) << what << " element " << i;
}

TEST_F(Cuda, BiasKernelsMatchCpu) {
  struct Case {
    int64_t rows, cols;
  };
  const Case cases[] = {{37, 129}, {1, 1}, {1, 5000}, {3001, 3}, {4, 0}, {0, 4}};
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.rows << "x" << c.cols);
    const int64_t n = c.rows * c.cols;
    const std::vector<float> x = randn(n, 100), dy = randn(n, 101);
    const std::vector<float> bias = randn(c.cols, 102), s = randn(c.rows, 103);
    const Tensor g_x = device_copy(x), g_dy = device_copy(dy), g_bias = device_copy(bias),
                 g_s = device_copy(s);

    std::vector<float> want(n);
    cpu::bias_add<float>(want.data(), x.data(), bias.data(), c.rows, c.cols);
    Tensor g_out = Tensor::empty({n}, DType::kF32, Device::cuda());
    cuda::bias_add(g_out.data<float>(), g_x.data<float>(), g_bias.data<float>(), c.rows, c.cols);
    EXPECT_EQ(host(g_out), want) << "bias_add";  // one rounded addition on both sides

    cpu::scale_rows<float>(want.data(), x.data(), s.data(), c.rows, c.cols);
    cuda::scale_rows(g_out.data<float>(), g_x.data<float>(), g_s.data<float>(), c.rows, c.cols);
    EXPECT_EQ(host(g_out), want) << "scale_rows";  // one rounded product on both sides

    std::vector<float> dx(n, 0.25f), ds(c.rows, 0.25f);
    cpu::scale_rows_backward<float>(dx.data(), ds.data(), dy.data(), x.data(), s.data(), c.rows,
                                    c.cols);
    Tensor g_dx = Tensor::full({n}, 0.25, DType::kF32, Device::cuda());
    Tensor g_ds = Tensor::full({c.rows}, 0.25, DType::kF32, Device::cuda());
    cuda::scale_rows_backward(g_dx.data<float>(), g_ds.data<float>(), g_dy.data<float>(),
                              g_x.data<float>(), g_s.data<float>(), c.rows, c.cols);
    expect_pointwise(dx, host(g_dx), "dx (accumulated)");
    const std::vector<float> got_ds = host(g_ds);
    for (int64_t r = 0; r < c.rows; ++r) {
      double magnitude = 0.25;
      for (int64_t k = 0; k < c.cols; ++k)
        magnitude += std::abs(dy[r * c.cols + k] * x[r * c.cols + k]);
      ASSERT_NEAR(got_ds[r], ds[r], 1e-6 + 1e-5 * magnitude) << "ds row " << r;
    }
    // Each target is optional.
    Tensor g_ds_only = Tensor::full({c.rows}, 0.25, DType::kF32, Device::cuda());
    cuda::scale_rows_backward(nullptr, g_ds_only.data<float>(), g_dy.data<float>(),
                              g_x.data<float>(), g_s.data<float>(), c.rows, c.cols);
    EXPECT_EQ(host(g_ds_only), got_ds);
  }
}

TEST_F(Cuda, AddBiasOpMatchesCpu) {
  // 2857 * 7 rows: the bias gradient takes the two-pass column sum (more than 128 rows).
  for (const int64_t blocks : {int64_t{2857}, int64_t{1}}) {
    SCOPED_TRACE(blocks);
    const int64_t cols = 37;
    const Tensor x = test::random_normal({blocks, 7, cols}, 105, DType::kF32, 1.0, false);
    const Tensor bias = test::random_normal({cols}, 106, DType::kF32, 1.0, false);
    auto f = [](const std::vector<Tensor>& in) { return add_bias(in[0], in[1]); };
    const OpResult want = run_op(Device::cpu(), {x, bias}, f, 104);
    const OpResult got = run_op(Device::cuda(), {x, bias}, f, 104);
    EXPECT_EQ(got.y, want.y);
    expect_pointwise(want.grads[0], got.grads[0], "dx");
    // dbias[c] = 0.5 + sum over rows of w[r, c].
    const std::vector<float> w =
        test::random_normal(x.shape(), 104, DType::kF32, 1.0, false).to_vector<float>();
    const int64_t total_rows = x.numel() / cols;
    for (int64_t c = 0; c < cols; ++c) {
      double magnitude = 0.5;
      for (int64_t r = 0; r < total_rows; ++r) magnitude += std::abs(w[r * cols + c]);
      ASSERT_NEAR(got.grads[1][c], want.grads[1][c], 1e-6 + 1e-5 * magnitude) << "dbias " << c;
    }
  }
}

TEST_F(Cuda, ScaleRowsOpMatchesCpu) {
  const Tensor x = test::random_normal({6, 11, 300}, 107, DType::kF32, 1.0, false);
  const Tensor s = test::random_normal({6, 11}, 108, DType::kF32, 1.0, false);
  auto f = [](const std::vector<Tensor>& in) { return scale_rows(in[0], in[1]); };
  const OpResult want = run_op(Device::cpu(), {x, s}, f, 104);
  const OpResult got = run_op(Device::cuda(), {x, s}, f, 104);
  EXPECT_EQ(got.y, want.y);
  expect_pointwise(want.grads[0], got.grads[0], "dx");
  // ds[r] = 0.5 + sum_c w[r, c] x[r, c].
  const std::vector<float> w =
      test::random_normal(x.shape(), 104, DType::kF32, 1.0, false).to_vector<float>();
  const std::vector<float> xv = x.to_vector<float>();
  const int64_t cols = x.size(-1);
  for (size_t r = 0; r < want.grads[1].size(); ++r) {
    double magnitude = 0.5;
    for (int64_t c = 0; c < cols; ++c) magnitude += std::abs(w[r * cols + c] * xv[r * cols + c]);
    ASSERT_NEAR(got.grads[1][r], want.grads[1][r], 1e-6 + 1e-5 * magnitude) << "ds " << r;
  }
}

}  // namespace
}  // namespace attn
