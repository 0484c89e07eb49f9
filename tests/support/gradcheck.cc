#include "tests/support/gradcheck.h"

#include <cmath>
#include <cstring>

#include "framework/autograd/tape.h"
#include "framework/core/threads.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/rng/philox.h"

namespace attn::test {

namespace {

double projected(const Tensor& out, const std::vector<double>& r) {
  std::vector<double> v = out.to_vector<double>();
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += v[i] * r[i];
  return s;
}

}  // namespace

::testing::AssertionResult gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                                     const GradcheckOptions& o) {
  for (const Tensor& x : inputs)
    if (x.requires_grad() && x.dtype() != DType::kF64)
      return ::testing::AssertionFailure() << "gradcheck needs f64 inputs, got " << x.str();
  // Analytic: backward of sum(f(x) * R).
  for (const Tensor& x : inputs)
    if (x.requires_grad()) x.grad_or_zeros().zero_();
  Tensor out = f(inputs);
  Tensor r = Tensor::empty(out.shape(), DType::kF64);
  fill_normal(r, o.seed, 0, 0.0, 1.0);
  std::vector<double> rv = r.to_vector<double>();
  backward(sum(mul(out, r)));

  ::testing::AssertionResult result = ::testing::AssertionSuccess();
  int failures = 0;
  NoGrad no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    std::vector<double> analytic = x.grad().to_vector<double>();
    double* p = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      double saved = p[i];
      p[i] = saved + o.eps;
      double plus = projected(f(inputs), rv);
      p[i] = saved - o.eps;
      double minus = projected(f(inputs), rv);
      p[i] = saved;
      double numeric = (plus - minus) / (2 * o.eps);
      double err = std::fabs(analytic[i] - numeric);
      if (!(err <= o.atol + o.rtol * std::fabs(numeric))) {
        if (failures++ == 0) result = ::testing::AssertionFailure();
        if (failures <= 5)
          result << "input " << k << " " << x.str() << " element " << i << ": analytic "
                 << analytic[i] << " numeric " << numeric << " (err " << err << ")\n";
      }
    }
  }
  if (failures > 5) result << "... " << failures << " mismatches in total\n";
  return result;
}

void expect_same_bits_for_1_and_2_threads(const std::function<std::vector<Tensor>()>& run) {
  int saved = num_threads();
  set_num_threads(1);
  std::vector<Tensor> one = run();
  set_num_threads(2);
  std::vector<Tensor> two = run();
  set_num_threads(saved);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) {
    ASSERT_EQ(one[i].shape(), two[i].shape()) << "result " << i;
    EXPECT_EQ(0, std::memcmp(one[i].raw(), two[i].raw(), one[i].nbytes()))
        << "result " << i << " (" << one[i].str() << ") differs between 1 and 2 threads";
  }
}

}  // namespace attn::test
