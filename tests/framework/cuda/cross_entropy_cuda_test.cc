// CUDA fused cross-entropy against the CPU kernels and op. The reference is the CPU code run in
// f64 on the same f32 inputs, so the tolerance bounds only the GPU's f32 rounding (expf to 2 ulp,
// online max/sum-exp, tree sums): 1e-5 relative plus 1e-5 absolute for lse, losses and
// gradients (the gradient starts at 0.25 and moves by probabilities of order 1e-5..1).
#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/cross_entropy.h"
#include "framework/kernels/cpu/reduce.h"
#include "framework/kernels/cuda/cross_entropy.h"
#include "framework/ops/cross_entropy.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/framework/cuda/cuda_test_util.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;
using test::on_gpu;
using test::randn;

void expect_close(const std::vector<double>& want, const std::vector<float>& got,
                  const char* what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5 + 1e-5 * std::abs(want[i])) << what << " element " << i;
}

// Targets in [0, v), every third row ignored (-100), as I.
template <typename I>
std::vector<I> make_targets(int64_t n, int64_t v, uint64_t stream) {
  const std::vector<int64_t> ids =
      test::random_ids({n}, v, stream, DType::kI64).to_vector<int64_t>();
  std::vector<I> t(n);
  for (int64_t i = 0; i < n; ++i) t[i] = i % 3 == 1 ? I(-100) : static_cast<I>(ids[i]);
  return t;
}

template <typename I>
void check_kernels(int64_t n, int64_t v, bool weighted, bool with_dloss, uint64_t stream) {
  SCOPED_TRACE(testing::Message() << "n " << n << " v " << v << " weighted " << weighted
                                  << " dloss " << with_dloss << " index bytes " << sizeof(I));
  const std::vector<float> logits = randn(n * v, stream, 3.0);
  std::vector<float> w = randn(n, stream + 1, 1.0);
  for (float& x : w) x = std::abs(x);
  const std::vector<I> t = make_targets<I>(n, v, stream + 2);
  const float scale = 0.37f, dloss = with_dloss ? 0.5f : 1.0f;

  const std::vector<double> ld(logits.begin(), logits.end()), wd(w.begin(), w.end());
  std::vector<double> row_loss(n), lse(n), dl(n * v, 0.25);
  double loss = 0;
  const double* wp = weighted ? wd.data() : nullptr;
  cpu::cross_entropy_forward<double, I>(row_loss.data(), lse.data(), ld.data(), t.data(), wp, n, v,
                                        I(-100));
  cpu::sum_axis<double>(&loss, row_loss.data(), 1, n, 1, scale, false);
  cpu::cross_entropy_backward<double, I>(dl.data(), ld.data(), lse.data(), t.data(), wp, n, v,
                                         I(-100), double(scale) * dloss);

  Tensor gl = on_gpu(logits), gw = on_gpu(w), gt = Tensor::from_vector<I>({n}, t, Device::cuda());
  Tensor grow = Tensor::empty({n}, DType::kF32, Device::cuda());
  Tensor glse = Tensor::empty({n}, DType::kF32, Device::cuda());
  Tensor gloss = Tensor::empty({}, DType::kF32, Device::cuda());
  const float* gwp = weighted ? gw.data<float>() : nullptr;
  cuda::cross_entropy_forward<I>(grow.data<float>(), glse.data<float>(), gl.data<float>(),
                                 gt.data<I>(), gwp, n, v, I(-100));
  cuda::cross_entropy_reduce(gloss.data<float>(), grow.data<float>(), n, scale);
  expect_close(lse, glse.to_vector<float>(), "lse");
  expect_close(row_loss, grow.to_vector<float>(), "row loss");
  expect_close({loss}, gloss.to_vector<float>(), "loss");

  Tensor gdl = on_gpu(std::vector<float>(n * v, 0.25f));
  Tensor gdloss = Tensor::full({}, dloss, DType::kF32, Device::cuda());
  cuda::cross_entropy_backward<I>(gdl.data<float>(), gl.data<float>(), glse.data<float>(),
                                  gt.data<I>(), gwp, n, v, I(-100), scale,
                                  with_dloss ? gdloss.data<float>() : nullptr);
  expect_close(dl, gdl.to_vector<float>(), "dlogits (accumulated)");
}

// Kernel level: one logit, vocabularies off the block size, a 50257 vocabulary (1024-thread
// blocks walking ~49 chunks), i32 and i64 targets, with and without weights and a device dloss.
TEST_F(Cuda, CrossEntropyKernelsMatchCpu) {
  check_kernels<int32_t>(1, 1, false, false, 600);
  check_kernels<int32_t>(7, 5, true, true, 610);
  check_kernels<int64_t>(13, 1000, false, true, 620);
  check_kernels<int64_t>(5, 50257, true, false, 630);
  check_kernels<int32_t>(4, 50257, false, true, 640);
  check_kernels<int32_t>(3000, 33, true, true, 650);  // the reduction loops over 1024 threads
}

TEST_F(Cuda, CrossEntropyKernelsHandleExtremeLogits) {
  // Logits 1e3 apart stay finite; -inf logits (masked vocabulary) have probability 0.
  const float inf = INFINITY;
  const std::vector<float> logits = {1000, -1000, 0, 500, 501, 499, -inf, 2, -inf};
  const std::vector<int32_t> t = {1, 2, 1};
  const int64_t n = 3, v = 3;
  const std::vector<double> ld(logits.begin(), logits.end());
  std::vector<double> row_loss(n), lse(n), dl(n * v, 0.0);
  cpu::cross_entropy_forward<double, int32_t>(row_loss.data(), lse.data(), ld.data(), t.data(),
                                              nullptr, n, v, -100);
  cpu::cross_entropy_backward<double, int32_t>(dl.data(), ld.data(), lse.data(), t.data(), nullptr,
                                               n, v, -100, 1.0);
  Tensor gl = on_gpu(logits), gt = Tensor::from_vector<int32_t>({n}, t, Device::cuda());
  Tensor grow = Tensor::empty({n}, DType::kF32, Device::cuda());
  Tensor glse = Tensor::empty({n}, DType::kF32, Device::cuda());
  Tensor gdl = Tensor::zeros({n * v}, DType::kF32, Device::cuda());
  cuda::cross_entropy_forward<int32_t>(grow.data<float>(), glse.data<float>(), gl.data<float>(),
                                       gt.data<int32_t>(), nullptr, n, v, -100);
  cuda::cross_entropy_backward<int32_t>(gdl.data<float>(), gl.data<float>(), glse.data<float>(),
                                        gt.data<int32_t>(), nullptr, n, v, -100, 1.0f);
  for (int64_t i = 0; i < n; ++i)
    EXPECT_NEAR(grow.to_vector<float>()[i], row_loss[i], 1e-5 * (1 + row_loss[i])) << i;
  expect_close(dl, gdl.to_vector<float>(), "dlogits");
}

// Op level: GPU op (f32) against the CPU op in f64: mean and sum reductions, weights, ignore
// index, i32/i64 targets; logits' gradient starts at 0.25.
TEST_F(Cuda, CrossEntropyOpMatchesCpu) {
  const Tensor logits = test::random_normal({2, 9, 50257}, 701, DType::kF32, 2.0, false);
  const Tensor w = test::random_uniform({2, 9}, 702, 0.0, 2.0, DType::kF32, false);
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    const DType index = variant == 1 ? DType::kI64 : DType::kI32;
    std::vector<int64_t> ids = test::random_ids({18}, 50257, 703, DType::kI64).to_vector<int64_t>();
    ids[4] = ids[11] = variant == 2 ? 7 : -100;
    auto run = [&](Device device, DType dtype) {
      Tensor li = logits.to(dtype).to(device).set_requires_grad();
      li.set_grad(Tensor::full(li.shape(), 0.25, dtype, device));
      CrossEntropyOptions o;
      if (variant == 2) {
        o.ignore_index = 7;
        o.reduction = CrossEntropyOptions::Reduction::kSum;
      }
      if (variant != 1) o.weights = w.to(dtype).to(device);
      Tensor targets =
          index == DType::kI64
              ? Tensor::from_vector<int64_t>({2, 9}, ids)
              : Tensor::from_vector<int32_t>({2, 9}, std::vector<int32_t>(ids.begin(), ids.end()));
      Tensor loss = cross_entropy(li, targets.to(device), o);
      EXPECT_EQ(loss.device(), device);
      backward(loss);
      return std::vector<std::vector<double>>{loss.to_vector<double>(),
                                              li.grad().to_vector<double>()};
    };
    const auto want = run(Device::cpu(), DType::kF64);
    const auto got = run(Device::cuda(), DType::kF32);
    expect_close(want[0], std::vector<float>(got[0].begin(), got[0].end()), "loss");
    expect_close(want[1], std::vector<float>(got[1].begin(), got[1].end()), "dlogits");
  }
}

TEST_F(Cuda, CrossEntropyOpAllIgnoredAndBadInputs) {
  const Tensor logits = Tensor::zeros({3, 4}, DType::kF32, Device::cuda()).set_requires_grad();
  const Tensor ignored = Tensor::from_vector<int32_t>({3}, {-100, -100, -100}, Device::cuda());
  Tensor loss = cross_entropy(logits, ignored);
  EXPECT_EQ(loss.item(), 0.0);
  backward(loss);
  for (float g : logits.grad().to_vector<float>()) EXPECT_EQ(g, 0.0f);

  const Tensor gpu_logits = Tensor::zeros({2, 3}, DType::kF32, Device::cuda());
  try {
    cross_entropy(gpu_logits, Tensor::from_vector<int32_t>({2}, {1, 3}, Device::cuda()));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("target 3 at position 1"), std::string::npos) << e.what();
  }
  // Targets on another device than the logits; f64 logits on CUDA.
  EXPECT_THROW(cross_entropy(gpu_logits, Tensor::from_vector<int32_t>({2}, {0, 1})), Error);
  EXPECT_THROW(cross_entropy(Tensor::zeros({2, 3}, DType::kF64, Device::cuda()),
                             Tensor::from_vector<int32_t>({2}, {0, 1}, Device::cuda())),
               Error);
}

}  // namespace
}  // namespace attn
