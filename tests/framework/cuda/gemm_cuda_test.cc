// CUDA products (cuBLASLt) against cpu::gemm_batched<double> on the same f32 inputs: the kernel
// for every transpose pair, batches, a shared B, beta = 1 accumulation, odd and degenerate sizes
// and misaligned views; the matmul / bmm ops forward and backward in all three precisions.
//
// Tolerances bound |gpu - exact| by tol * S, S = |alpha| sum_l |a_il b_lj| + |beta c_ij| (the
// magnitude of the terms summed; computed by the same CPU kernel on absolute values):
//   f32  1e-5: any order of summation errs by at most k * 2^-24 * S (k <= 129 here: 7.7e-6
//        worst case, far less in practice for random signs).
//   tf32 2.5e-3: inputs cut to a 10-bit mantissa, rounded or truncated (< 2^-10 relative each),
//        so each product errs by < 2^-9 = 1.95e-3 relative; f32 accumulation adds ~k 2^-24.
//   bf16 kernel 1e-4: the reference uses the same bf16-rounded inputs, so only the f32
//        accumulation differs (exact products of 8-bit mantissas; margin for tensor-core
//        accumulators narrower than f32).
//   bf16 ops 1e-2: every input (and dC in backward) is rounded to an 8-bit mantissa
//        (<= 2^-8 relative), so each product errs by <= 2^-7 + 2^-16 = 7.8e-3 relative.
#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "framework/autograd/tape.h"
#include "framework/core/bf16.h"
#include "framework/kernels/cpu/gemm.h"
#include "framework/kernels/cuda/gemm.h"
#include "framework/ops/matmul.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;

constexpr MatmulPrecision kAllPrecisions[] = {MatmulPrecision::kF32, MatmulPrecision::kTf32,
                                              MatmulPrecision::kBf16};

void expect_close(const std::vector<double>& want, const std::vector<double>& scale,
                  const std::vector<float>& got, double tol, const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  ASSERT_EQ(want.size(), scale.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * scale[i] + 1e-6) << what << ", element " << i;
}

std::vector<float> random_vector(int64_t n, uint64_t stream) {
  return test::random_normal({n}, stream, DType::kF32, 1.0, false).to_vector<float>();
}

std::vector<double> widen(const std::vector<float>& v, bool abs = false) {
  std::vector<double> d(v.begin(), v.end());
  if (abs)
    for (double& x : d) x = std::abs(x);
  return d;
}

// One kernel call. `offset` shifts every device buffer by that many elements to test views
// that are not 16-byte aligned.
struct GemmCase {
  int64_t batch;
  bool ta, tb;
  int64_t m, n, k;
  bool shared_b;
  float alpha, beta;
  int64_t offset = 0;
};

std::string describe(const GemmCase& c, MatmulPrecision p) {
  return fmt::format("{} batch {} ta {} tb {} m {} n {} k {} shared_b {} alpha {} beta {} off {}",
                     matmul_precision_name(p), c.batch, c.ta, c.tb, c.m, c.n, c.k, c.shared_b,
                     c.alpha, c.beta, c.offset);
}

// The device copy of host values (as f32, or as bf16 bit patterns), `offset` elements in.
Tensor device_buffer(const std::vector<float>& v, int64_t offset, bool bf16) {
  const auto n = static_cast<int64_t>(v.size()) + offset;
  Tensor host = Tensor::zeros({n}, bf16 ? DType::kBF16 : DType::kF32);
  for (size_t i = 0; i < v.size(); ++i) {
    if (bf16)
      host.data<uint16_t>()[offset + i] = float_to_bf16(v[i]);
    else
      host.data<float>()[offset + i] = v[i];
  }
  return host.to(Device::cuda());
}

const void* at(const Tensor& t, int64_t offset) {
  return static_cast<const char*>(t.raw()) + offset * dtype_size(t.dtype());
}

void check_gemm(const GemmCase& c, MatmulPrecision p) {
  SCOPED_TRACE(describe(c, p));
  const bool bf16 = p == MatmulPrecision::kBf16;
  const int64_t sa = c.m * c.k, sb = c.shared_b ? 0 : c.k * c.n, sc = c.m * c.n;
  std::vector<float> a = random_vector(c.batch * sa, 1), c0 = random_vector(c.batch * sc, 3);
  std::vector<float> b = random_vector((c.shared_b ? 1 : c.batch) * c.k * c.n, 2);
  if (bf16)  // the reference multiplies exactly what the GPU sees
    for (auto* v : {&a, &b})
      for (float& x : *v) x = bf16_to_float(float_to_bf16(x));

  std::vector<double> want = widen(c0), scale = widen(c0, true);
  cpu::gemm_batched<double>(c.batch, c.ta, c.tb, c.m, c.n, c.k, c.alpha, widen(a).data(), sa,
                            widen(b).data(), sb, c.beta, want.data(), sc);
  cpu::gemm_batched<double>(c.batch, c.ta, c.tb, c.m, c.n, c.k, std::abs(c.alpha),
                            widen(a, true).data(), sa, widen(b, true).data(), sb, std::abs(c.beta),
                            scale.data(), sc);

  const Tensor ga = device_buffer(a, c.offset, bf16), gb = device_buffer(b, c.offset, bf16);
  Tensor gc = device_buffer(c0, c.offset, false);
  float* cptr = gc.data<float>() + c.offset;
  cuda::gemm_batched(c.batch, c.ta, c.tb, c.m, c.n, c.k, c.alpha, at(ga, c.offset), sa,
                     at(gb, c.offset), sb, c.beta, cptr, sc, p);
  std::vector<float> got = gc.to_vector<float>();
  got.erase(got.begin(), got.begin() + c.offset);
  const double tol = p == MatmulPrecision::kF32    ? 1e-5
                     : p == MatmulPrecision::kTf32 ? 2.5e-3
                                                   : 1e-4;
  expect_close(want, scale, got, tol, "C");

  // Same call, same bits: the cached algorithm is reused.
  gc.copy_from(device_buffer(c0, c.offset, false));
  cuda::gemm_batched(c.batch, c.ta, c.tb, c.m, c.n, c.k, c.alpha, at(ga, c.offset), sa,
                     at(gb, c.offset), sb, c.beta, cptr, sc, p);
  std::vector<float> again = gc.to_vector<float>();
  again.erase(again.begin(), again.begin() + c.offset);
  ASSERT_EQ(0, std::memcmp(got.data(), again.data(), got.size() * sizeof(float)))
      << "repeated product differs";
}

TEST_F(Cuda, GemmMatchesCpu) {
  std::vector<GemmCase> cases;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      cases.push_back({3, ta, tb, 37, 129, 65, false, 1.0f, 0.0f});
      cases.push_back({2, ta, tb, 65, 37, 129, false, 0.5f, 1.0f});     // accumulate
      cases.push_back({4, ta, tb, 37, 65, 33, true, 1.0f, 0.0f});       // shared B
      cases.push_back({3, ta, tb, 37, 65, 33, true, -1.0f, 1.0f});      // shared B, accumulate
      cases.push_back({2, ta, tb, 37, 129, 65, false, 1.0f, 1.0f, 1});  // 4-byte aligned views
    }
  cases.push_back({1, false, false, 1, 1, 1, false, 1.0f, 0.0f});        // scalars
  cases.push_back({1, false, true, 1, 129, 65, false, 1.0f, 1.0f});      // one row
  cases.push_back({5, true, false, 37, 1, 65, false, 1.0f, 0.0f});       // one column
  cases.push_back({2, false, false, 256, 256, 128, false, 1.0f, 0.0f});  // several tiles
  cases.push_back({1, false, true, 300, 200, 96, false, 1.0f, 1.0f});    // linear-layer shape
  for (MatmulPrecision p : kAllPrecisions)
    for (const GemmCase& c : cases) check_gemm(c, p);
}

TEST_F(Cuda, GemmWithEmptyInnerDimensionScalesC) {
  for (float beta : {0.0f, 1.0f, 2.0f}) {
    const std::vector<float> c0 = random_vector(2 * 5 * 3, 4);
    Tensor gc = Tensor::from_vector<float>({2 * 5 * 3}, c0).to(Device::cuda());
    cuda::gemm_batched(2, false, false, 5, 3, 0, 1.0f, nullptr, 0, nullptr, 0, beta,
                       gc.data<float>(), 15, MatmulPrecision::kF32);
    const std::vector<float> got = gc.to_vector<float>();
    for (size_t i = 0; i < c0.size(); ++i) ASSERT_EQ(got[i], beta * c0[i]) << "beta " << beta;
  }
  // Nothing to do for empty C; no pointer is touched.
  cuda::gemm_batched(3, false, false, 0, 4, 5, 1.0f, nullptr, 0, nullptr, 0, 0.0f, nullptr, 0,
                     MatmulPrecision::kF32);
}

// ---- ops ----

struct OpResult {
  std::vector<double> c, da, db;
};

using Product = std::function<Tensor(const Tensor&, const Tensor&)>;

// f(a, b) on `device` under `precision`, then backward with dC = w; gradients start at 0.5 to
// show that backward accumulates. Backward runs after the precision scope has ended: the node
// must use the precision of its forward.
OpResult run_op(const Product& f, const Tensor& a, const Tensor& b, const Tensor& w, Device device,
                MatmulPrecision precision) {
  Tensor x = a.clone().to(device), y = b.clone().to(device), dc = w.clone().to(device);
  for (Tensor* t : {&x, &y}) {
    t->set_requires_grad();
    t->set_grad(Tensor::full(t->shape(), 0.5, t->dtype(), device));
  }
  Tensor c;
  {
    CudaMatmulPrecisionScope scope(precision);
    c = f(x, y);
  }
  EXPECT_EQ(c.device(), device);
  EXPECT_EQ(c.dtype(), a.dtype());
  // A one-element stand-in loss whose backward hands C the gradient w.
  Tensor loss = Tensor::zeros({1}, a.dtype());
  record("seed", {loss}, [c, dc] { c.grad_or_zeros().copy_from(dc); });
  backward(loss);
  EXPECT_EQ(x.grad().dtype(), a.dtype());  // mixed precision keeps f32 gradients
  return {c.to_vector<double>(), x.grad().to_vector<double>(), y.grad().to_vector<double>()};
}

Tensor abs_of(const Tensor& t) {
  std::vector<double> v = t.to_vector<double>();
  for (double& x : v) x = std::abs(x);
  return Tensor::from_vector<double>(t.shape(), v);
}

void check_op(const Product& f, const Shape& sa, const Shape& sb, const std::string& what) {
  const Tensor a = test::random_normal(sa, 11, DType::kF32, 1.0, false);
  const Tensor b = test::random_normal(sb, 12, DType::kF32, 1.0, false);
  Tensor c_shape;
  {
    NoGrad no_grad;
    c_shape = f(a, b);
  }
  const Tensor w = test::random_normal(c_shape.shape(), 13, DType::kF32, 1.0, false);
  const auto f64 = [](const Tensor& t) { return t.to(DType::kF64); };
  const Device cpu = Device::cpu();
  const OpResult want = run_op(f, f64(a), f64(b), f64(w), cpu, MatmulPrecision::kF32);
  const OpResult scale = run_op(f, abs_of(a), abs_of(b), abs_of(w), cpu, MatmulPrecision::kF32);
  for (MatmulPrecision p : kAllPrecisions) {
    SCOPED_TRACE(what + " " + matmul_precision_name(p));
    const OpResult got = run_op(f, a, b, w, Device::cuda(), p);
    const double tol = p == MatmulPrecision::kF32    ? 1e-5
                       : p == MatmulPrecision::kTf32 ? 2.5e-3
                                                     : 1e-2;
    const auto narrow = [](const std::vector<double>& v) {
      return std::vector<float>(v.begin(), v.end());
    };
    expect_close(want.c, scale.c, narrow(got.c), tol, "forward");
    expect_close(want.da, scale.da, narrow(got.da), tol, "dA (accumulated)");
    expect_close(want.db, scale.db, narrow(got.db), tol, "dB (accumulated)");
  }
}

TEST_F(Cuda, MatmulOpMatchesCpuInEveryPrecision) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      // trans_a needs a 2-D a; otherwise leading dimensions are flattened into rows.
      const Shape sa = ta ? Shape({65, 37}) : Shape({2, 19, 65});
      const Shape sb = tb ? Shape({129, 65}) : Shape({65, 129});
      check_op([=](const Tensor& x, const Tensor& y) { return matmul(x, y, ta, tb); }, sa, sb,
               fmt::format("matmul ta {} tb {}", ta, tb));
    }
}

TEST_F(Cuda, BmmOpMatchesCpuInEveryPrecision) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const Shape sa = ta ? Shape({2, 3, 65, 37}) : Shape({2, 3, 37, 65});
      const Shape sb = tb ? Shape({2, 3, 33, 65}) : Shape({2, 3, 65, 33});
      check_op([=](const Tensor& x, const Tensor& y) { return bmm(x, y, ta, tb); }, sa, sb,
               fmt::format("bmm ta {} tb {}", ta, tb));
    }
}

TEST_F(Cuda, MatmulOpChecksDtypeDeviceAndRestoresPrecision) {
  EXPECT_EQ(cuda_matmul_precision(), MatmulPrecision::kF32);  // the default
  {
    CudaMatmulPrecisionScope outer(MatmulPrecision::kBf16);
    {
      CudaMatmulPrecisionScope inner(MatmulPrecision::kTf32);
      EXPECT_EQ(cuda_matmul_precision(), MatmulPrecision::kTf32);
    }
    EXPECT_EQ(cuda_matmul_precision(), MatmulPrecision::kBf16);
  }
  EXPECT_EQ(cuda_matmul_precision(), MatmulPrecision::kF32);
  const Tensor a = Tensor::zeros({3, 4}), b = Tensor::zeros({4, 5});
  EXPECT_THROW(matmul(a.to(DType::kF64).to(Device::cuda()), b.to(DType::kF64).to(Device::cuda())),
               Error);                                   // f32 only on CUDA
  EXPECT_THROW(matmul(a.to(Device::cuda()), b), Error);  // mixed devices
}

}  // namespace
}  // namespace attn
