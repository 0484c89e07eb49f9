// The CUDA kernels of the layers' own ops against the CPU ones (f32, 1e-5 relative): the affine
// combination, the top-k gates (masks and fractions exactly), the document shift (exactly).
// Skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/softmax.h"
#include "framework/ops/transfer.h"
#include "layers/attention/ops/affine_combine.h"
#include "layers/attention/ops/topk_gates.h"
#include "layers/ops/document_shift.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;

void expect_near(const Tensor& got, const Tensor& want, const char* what) {
  const std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
  ASSERT_EQ(g.size(), w.size()) << what;
  for (size_t i = 0; i < w.size(); ++i)
    ASSERT_NEAR(g[i], w[i], 1e-5f * std::max(1.0f, std::fabs(w[i]))) << what << " element " << i;
}

Tensor leaf(const Tensor& t, Device d) {
  Tensor x = t.to(d);
  x.set_requires_grad();
  return x;
}

TEST_F(Cuda, AffineCombineMatchesCpu) {
  const std::vector<int32_t> cu{0, 1, 130, 200};
  const Tensor cu_t = Tensor::from_vector<int32_t>({4}, cu);
  const Tensor o0 = test::random_normal({200, 4, 40}, 1, DType::kF32, 1.0, false);
  const Tensor v0 = test::random_normal({200, 2, 40}, 2, DType::kF32, 1.0, false);
  const Tensor z0 = test::random_normal({200, 4}, 3, DType::kF32, 1.0, false);
  const Tensor dy = test::random_normal({200, 4, 40}, 4, DType::kF32, 1.0, false);
  const Tensor ma = Tensor::from_vector<float>({4}, {0.2f, 0.5f, 0.9f, 0.4f});
  for (bool sigmoid : {true, false}) {
    SCOPED_TRACE(sigmoid ? "sigmoid" : "hard clip");
    Tensor out[2][5];
    for (int dev = 0; dev < 2; ++dev) {
      const Device d = dev ? Device::cuda() : Device::cpu();
      const Tensor o = leaf(o0, d), v = leaf(v0, d), z = leaf(z0, d);
      const AffineCombined r = affine_combine(o, v, z, ma.to(d), cu_t, sigmoid);
      backward(sum(mul(transfer(r.y, Device::cpu()), dy)));
      out[dev][0] = r.y.to(Device::cpu()), out[dev][1] = r.alpha.to(Device::cpu());
      out[dev][2] = o.grad().to(Device::cpu()), out[dev][3] = v.grad().to(Device::cpu());
      out[dev][4] = z.grad().to(Device::cpu());
    }
    const char* names[5] = {"y", "alpha", "do", "dv", "dz"};
    for (int i = 0; i < 5; ++i) expect_near(out[1][i], out[0][i], names[i]);
  }
}

TEST_F(Cuda, TopkGatesMatchCpu) {
  const Tensor p0 = softmax(test::random_normal({300, 7}, 5, DType::kF32, 1.0, false));
  const Tensor dg = test::random_normal({300, 7}, 6, DType::kF32, 1.0, false);
  Tensor out[2][3];
  for (int dev = 0; dev < 2; ++dev) {
    const Device d = dev ? Device::cuda() : Device::cpu();
    const Tensor p = leaf(p0, d);
    const TopkGates g = topk_gates(p, 3);
    backward(sum(mul(transfer(g.gates, Device::cpu()), dg)));
    out[dev][0] = g.gates.to(Device::cpu()), out[dev][1] = g.fraction.to(Device::cpu());
    out[dev][2] = p.grad().to(Device::cpu());
  }
  EXPECT_EQ(out[1][1].to_vector<float>(), out[0][1].to_vector<float>());  // the same top-k sets
  expect_near(out[1][0], out[0][0], "gates");
  expect_near(out[1][2], out[0][2], "dp");
}

TEST_F(Cuda, DocumentShiftMatchesCpu) {
  const Tensor cu = Tensor::from_vector<int32_t>({4}, {0, 1, 90, 150});
  const Tensor x0 = test::random_normal({150, 33}, 7, DType::kF32, 1.0, false);
  const Tensor dy = test::random_normal({150, 33}, 8, DType::kF32, 1.0, false);
  for (int64_t s : {1, 6}) {
    Tensor out[2][2];
    for (int dev = 0; dev < 2; ++dev) {
      const Device d = dev ? Device::cuda() : Device::cpu();
      const Tensor x = leaf(x0, d);
      const Tensor y = document_shift(x, dev ? cu.to(d) : cu, s);
      backward(sum(mul(transfer(y, Device::cpu()), dy)));
      out[dev][0] = y.to(Device::cpu()), out[dev][1] = x.grad().to(Device::cpu());
    }
    EXPECT_EQ(out[1][0].to_vector<float>(), out[0][0].to_vector<float>());
    EXPECT_EQ(out[1][1].to_vector<float>(), out[0][1].to_vector<float>());
  }
}

}  // namespace
}  // namespace attn
