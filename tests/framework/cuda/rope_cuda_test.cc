// CUDA rope against the CPU kernel and op on the same inputs, both pairings, forward, in place,
// and the accumulating inverse rotation (backward). Tolerance 2e-6 absolute plus 1e-5 relative:
// both sides take angles, cos and sin in double and round them to f32 (the two math libraries
// may differ by one f32 ulp), and the CPU compiler may fuse a*c - b*s into one FMA, which moves
// the result by about one ulp of |a| + |b| (inputs are O(1)).
#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/rope.h"
#include "framework/kernels/cuda/rope.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/rope.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/framework/cuda/cuda_test_util.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;
using test::host;

void expect_close(const std::vector<float>& want, const std::vector<float>& got, const char* what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 2e-6 + 1e-5 * std::abs(want[i])) << what << " element " << i;
}

// Positions restart per packed document and reach long-context values.
std::vector<int32_t> positions(int64_t tokens) {
  std::vector<int32_t> pos(tokens);
  for (int64_t t = 0; t < tokens; ++t) pos[t] = t % 3 == 0 ? int32_t(t * 997 % 131072) : int32_t(t);
  return pos;
}

void check_kernel(int64_t tokens, int64_t heads, int64_t dim, RopePairing pairing) {
  SCOPED_TRACE(testing::Message() << tokens << "x" << heads << "x" << dim << " pairing "
                                  << static_cast<int>(pairing));
  const int64_t n = tokens * heads * dim;
  const double base = 10000.0;
  const std::vector<float> x =
      test::random_normal({n}, 70, DType::kF32, 1.0, false).to_vector<float>();
  const std::vector<float> dy =
      test::random_normal({n}, 71, DType::kF32, 1.0, false).to_vector<float>();
  const std::vector<int32_t> pos = positions(tokens);
  std::vector<float> y(n), dx(n, 0.25f);
  cpu::rope_rotate<float>(y.data(), x.data(), pos.data(), tokens, heads, dim, base, pairing, false,
                          false);
  cpu::rope_rotate<float>(dx.data(), dy.data(), pos.data(), tokens, heads, dim, base, pairing, true,
                          true);

  const Tensor g_pos = Tensor::from_vector<int32_t>({tokens}, pos, Device::cuda());
  const Tensor g_x = Tensor::from_vector<float>({n}, x, Device::cuda());
  Tensor g_y = Tensor::empty({n}, DType::kF32, Device::cuda());
  cuda::rope_rotate(g_y.data<float>(), g_x.data<float>(), g_pos.data<int32_t>(), tokens, heads, dim,
                    base, pairing, false, false);
  expect_close(y, host(g_y), "forward");

  Tensor g_inplace = g_x.clone();
  cuda::rope_rotate(g_inplace.data<float>(), g_inplace.data<float>(), g_pos.data<int32_t>(), tokens,
                    heads, dim, base, pairing, false, false);
  expect_close(y, host(g_inplace), "forward in place");

  const Tensor g_dy = Tensor::from_vector<float>({n}, dy, Device::cuda());
  Tensor g_dx = Tensor::full({n}, 0.25, DType::kF32, Device::cuda());
  cuda::rope_rotate(g_dx.data<float>(), g_dy.data<float>(), g_pos.data<int32_t>(), tokens, heads,
                    dim, base, pairing, true, true);
  expect_close(dx, host(g_dx), "backward (accumulated)");
}

TEST_F(Cuda, RopeKernelMatchesCpu) {
  for (RopePairing pairing : {RopePairing::kHalf, RopePairing::kInterleaved}) {
    check_kernel(37, 3, 86, pairing);    // 43 pairs: not a multiple of a warp
    check_kernel(1, 1, 2, pairing);      // one pair
    check_kernel(300, 2, 640, pairing);  // 320 pairs: more than one pass of 256 threads
  }
}

TEST_F(Cuda, RopeOpMatchesCpu) {
  const int64_t tokens = 45, heads = 4, dim = 18;
  const Tensor x_host = test::random_normal({tokens, heads, dim}, 72, DType::kF32, 1.0, false);
  const Tensor pos = Tensor::from_vector<int32_t>({tokens}, positions(tokens));
  for (RopePairing pairing : {RopePairing::kHalf, RopePairing::kInterleaved}) {
    const RopeOptions options{500000.0, pairing};
    std::vector<float> want_y, want_dx;
    for (int run = 0; run < 3; ++run) {  // CPU; CUDA with host positions; CUDA with device ones
      const Device device = run == 0 ? Device::cpu() : Device::cuda();
      Tensor x = run == 0 ? x_host.clone() : x_host.to(device);
      x.set_requires_grad();
      x.set_grad(Tensor::full(x.shape(), 0.5, DType::kF32, device));
      Tensor y = rope(x, run == 2 ? pos.to(device) : pos, options);
      Tensor w = test::random_normal(y.shape(), 73, DType::kF32, 1.0, false).to(device);
      backward(sum(mul(y, w)));
      if (run == 0) {
        want_y = host(y);
        want_dx = host(x.grad());
        continue;
      }
      EXPECT_TRUE(y.device().is_cuda());
      expect_close(want_y, host(y), "op forward");
      expect_close(want_dx, host(x.grad()), "op backward (accumulated)");
    }
  }
}

}  // namespace
}  // namespace attn
