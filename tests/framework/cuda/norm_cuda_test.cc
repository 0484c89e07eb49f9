// CUDA LayerNorm / RMSNorm against the CPU kernels and ops. The reference is the CPU code run in
// f64 on the same f32 inputs, so the tolerance bounds only the GPU's f32 rounding: 1e-5 relative
// plus 1e-5 absolute (dx cancels to values near 0); column sums dw/db add 1e-5 absolute per
// 100 rows, since their magnitude grows with the row count.
#include <cmath>

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/norm.h"
#include "framework/kernels/cuda/norm.h"
#include "framework/ops/cross_entropy.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/norm.h"
#include "framework/ops/reduce.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/framework/cuda/cuda_test_util.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;
using test::host;
using test::on_gpu;
using test::randn;

std::vector<double> widen(const std::vector<float>& v) {
  return {v.begin(), v.end()};
}
void expect_close(const std::vector<double>& want, const std::vector<float>& got, double atol,
                  const char* what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], atol + 1e-5 * std::abs(want[i])) << what << " element " << i;
}

struct Case {
  NormKind kind;
  bool bias;
  int64_t rows, cols;
};

// Kernel level: forward (y, mean, rstd) and backward accumulating into dx/dw/db that start at
// 0.25. Sizes: a single element, sizes off the 256-thread block and the 64-row partial chunks,
// and a row long enough for the 1024-thread blocks.
TEST_F(Cuda, NormKernelsMatchCpu) {
  const Case cases[] = {
      {NormKind::kLayerNorm, true, 1, 1},     {NormKind::kLayerNorm, true, 3, 5},
      {NormKind::kLayerNorm, true, 37, 771},  {NormKind::kLayerNorm, false, 130, 257},
      {NormKind::kRmsNorm, false, 1, 7},      {NormKind::kRmsNorm, false, 65, 771},
      {NormKind::kLayerNorm, true, 129, 4099}};
  uint64_t stream = 100;
  for (const Case& k : cases) {
    SCOPED_TRACE(testing::Message() << "kind " << static_cast<int>(k.kind) << " bias " << k.bias
                                    << " rows " << k.rows << " cols " << k.cols);
    const int64_t rows = k.rows, cols = k.cols, n = rows * cols;
    const bool center = k.kind == NormKind::kLayerNorm;
    const std::vector<float> x = randn(n, ++stream, 2.0, 3.0), w = randn(cols, ++stream, 1.0, 1.0),
                             b = randn(cols, ++stream, 1.0), dy = randn(n, ++stream, 1.0);
    // f64 reference
    std::vector<double> y(n), mean(rows), rstd(rows), dx(n, 0.25), dw(cols, 0.25), db(cols, 0.25);
    const std::vector<double> xd = widen(x), wd = widen(w), bd = widen(b), dyd = widen(dy);
    cpu::norm_forward<double>(k.kind, y.data(), center ? mean.data() : nullptr, rstd.data(),
                              xd.data(), wd.data(), k.bias ? bd.data() : nullptr, rows, cols, 1e-5);
    cpu::norm_backward<double>(k.kind, dx.data(), dw.data(), k.bias ? db.data() : nullptr,
                               dyd.data(), xd.data(), wd.data(), center ? mean.data() : nullptr,
                               rstd.data(), rows, cols);

    Tensor gx = on_gpu(x), gw = on_gpu(w), gb = on_gpu(b), gdy = on_gpu(dy);
    Tensor gy = Tensor::empty({n}, DType::kF32, Device::cuda());
    Tensor gmean = Tensor::empty({rows}, DType::kF32, Device::cuda());
    Tensor grstd = Tensor::empty({rows}, DType::kF32, Device::cuda());
    cuda::norm_forward(k.kind, gy.data<float>(), center ? gmean.data<float>() : nullptr,
                       grstd.data<float>(), gx.data<float>(), gw.data<float>(),
                       k.bias ? gb.data<float>() : nullptr, rows, cols, 1e-5f);
    expect_close(y, host(gy), 1e-5, "y");
    if (center) expect_close(mean, host(gmean), 1e-5, "mean");
    expect_close(rstd, host(grstd), 1e-6, "rstd");

    // The backward reads the GPU's own saved statistics, as the op does.
    Tensor gdx = on_gpu(std::vector<float>(n, 0.25f)),
           gdw = on_gpu(std::vector<float>(cols, 0.25f)),
           gdb = on_gpu(std::vector<float>(cols, 0.25f));
    cuda::norm_backward(k.kind, gdx.data<float>(), gdw.data<float>(),
                        k.bias ? gdb.data<float>() : nullptr, gdy.data<float>(), gx.data<float>(),
                        gw.data<float>(), center ? gmean.data<float>() : nullptr,
                        grstd.data<float>(), rows, cols);
    const double sum_atol = 1e-5 * (1.0 + rows / 100.0);
    expect_close(dx, host(gdx), 1e-5, "dx (accumulated)");
    expect_close(dw, host(gdw), sum_atol, "dw (accumulated)");
    if (k.bias) expect_close(db, host(gdb), sum_atol, "db (accumulated)");
    if (!k.bias) {
      for (float v : host(gdb)) ASSERT_EQ(v, 0.25f) << "db untouched when null";
    }
  }
}

// Each of dx, dw, db may be null alone; the others are unchanged by that.
TEST_F(Cuda, NormBackwardSkipsNullGradients) {
  const int64_t rows = 70, cols = 33, n = rows * cols;
  const std::vector<float> x = randn(n, 201, 1.0), w = randn(cols, 202, 1.0),
                           dy = randn(n, 203, 1.0);
  std::vector<double> mean(rows), rstd(rows), y(n), dx(n, 0.5), dw(cols, 0.5), db(cols, 0.5);
  const std::vector<double> xd = widen(x), wd = widen(w), dyd = widen(dy);
  cpu::norm_forward<double>(NormKind::kLayerNorm, y.data(), mean.data(), rstd.data(), xd.data(),
                            wd.data(), nullptr, rows, cols, 1e-5);
  cpu::norm_backward<double>(NormKind::kLayerNorm, dx.data(), dw.data(), db.data(), dyd.data(),
                             xd.data(), wd.data(), mean.data(), rstd.data(), rows, cols);
  Tensor gx = on_gpu(x), gw = on_gpu(w), gdy = on_gpu(dy);
  Tensor gmean = on_gpu(std::vector<float>(mean.begin(), mean.end()));
  Tensor grstd = on_gpu(std::vector<float>(rstd.begin(), rstd.end()));
  for (int skip = 0; skip < 3; ++skip) {
    SCOPED_TRACE(skip);
    Tensor gdx = on_gpu(std::vector<float>(n, 0.5f)), gdw = on_gpu(std::vector<float>(cols, 0.5f)),
           gdb = on_gpu(std::vector<float>(cols, 0.5f));
    cuda::norm_backward(NormKind::kLayerNorm, skip == 0 ? nullptr : gdx.data<float>(),
                        skip == 1 ? nullptr : gdw.data<float>(),
                        skip == 2 ? nullptr : gdb.data<float>(), gdy.data<float>(),
                        gx.data<float>(), gw.data<float>(), gmean.data<float>(),
                        grstd.data<float>(), rows, cols);
    if (skip != 0) expect_close(dx, host(gdx), 1e-5, "dx");
    if (skip != 1) expect_close(dw, host(gdw), 2e-5, "dw");
    if (skip != 2) expect_close(db, host(gdb), 2e-5, "db");
    if (skip == 0) expect_close(std::vector<double>(n, 0.5), host(gdx), 0, "dx untouched");
  }
}

// Op level: the GPU op (f32) against the CPU op in f64, through a cross-entropy head so the
// backward gets a non-trivial dy; leaf gradients start at 0.25 to prove accumulation. The fused
// residual form (add_*_norm) also sends a gradient into its sum output, as a block's next
// residual add does.
TEST_F(Cuda, NormOpsMatchCpu) {
  for (bool fused : {false, true})
    for (NormKind kind : {NormKind::kLayerNorm, NormKind::kRmsNorm}) {
      SCOPED_TRACE(testing::Message() << "kind " << static_cast<int>(kind) << " fused " << fused);
      const bool ln = kind == NormKind::kLayerNorm;
      const Shape xs{2, 33, 771};
      const Tensor x = test::random_normal(xs, 301, DType::kF32, 2.0, false);
      const Tensor r = test::random_normal(xs, 305, DType::kF32, 1.0, false);
      const Tensor w = test::random_normal({771}, 302, DType::kF32, 1.0, false);
      const Tensor b = test::random_normal({771}, 303, DType::kF32, 1.0, false);
      const Tensor targets = test::random_ids({2, 33}, 771, 304);

      auto run = [&](Device device, DType dtype) {
        Tensor xi = x.to(dtype).to(device).set_requires_grad();
        Tensor ri = r.to(dtype).to(device).set_requires_grad();
        Tensor wi = w.to(dtype).to(device).set_requires_grad();
        Tensor bi = ln ? b.to(dtype).to(device).set_requires_grad() : Tensor();
        for (Tensor* t : {&xi, &ri, &wi, &bi})
          if (t->defined()) t->set_grad(Tensor::full(t->shape(), 0.25, dtype, device));
        AddNormResult out;
        if (fused)
          out = ln ? add_layer_norm(xi, ri, wi, bi) : add_rms_norm(xi, ri, wi);
        else
          out.normed = ln ? layer_norm(xi, wi, bi) : rms_norm(xi, wi);
        EXPECT_EQ(out.normed.device(), device);
        Tensor loss = cross_entropy(out.normed, targets.to(device));
        if (fused) loss = add(loss, scale(mean(mul(out.sum, out.sum)), 0.1));
        backward(loss);
        std::vector<std::vector<double>> res = {
            out.normed.to_vector<double>(), loss.to_vector<double>(), xi.grad().to_vector<double>(),
            wi.grad().to_vector<double>(),
            fused ? ri.grad().to_vector<double>() : std::vector<double>()};
        if (ln) res.push_back(bi.grad().to_vector<double>());
        return res;
      };
      const auto want = run(Device::cpu(), DType::kF64);
      const auto got = run(Device::cuda(), DType::kF32);
      const char* what[] = {"y", "loss", "dx", "dw", "dresidual", "db"};
      for (size_t i = 0; i < want.size(); ++i)
        expect_close(want[i], std::vector<float>(got[i].begin(), got[i].end()),
                     i == 3 || i == 5 ? 2e-5 : 1e-5, what[i]);
    }
}

TEST_F(Cuda, NormOpChecksDeviceAndDtype) {
  const Tensor x = Tensor::zeros({2, 4}, DType::kF32, Device::cuda());
  EXPECT_THROW(layer_norm(x, Tensor::full({4}, 1.0), Tensor()), Error);  // weight on the CPU
  EXPECT_THROW(rms_norm(Tensor::zeros({2, 4}, DType::kF64, Device::cuda()),
                        Tensor::full({4}, 1.0, DType::kF64, Device::cuda())),
               Error);  // f32 only on CUDA
}

}  // namespace
}  // namespace attn
