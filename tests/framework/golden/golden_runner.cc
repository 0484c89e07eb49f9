#include "tests/framework/golden/golden_runner.h"

#include <algorithm>

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "tests/support/fixtures.h"

namespace attn::test {

namespace {

bool is_reference(const std::string& name) {
  return name == "out" || name == "gout" || name.starts_with("grad_");
}

void expect_matches(const char* what, const Tensor& got, const Tensor& want,
                    const GoldenTolerance& tol, double extra_atol) {
  const double atol = tol.atol + tol.atol_rel * max_abs(want) + extra_atol;
  EXPECT_TRUE(all_close(got, want, atol, tol.rtol)) << what;
}

}  // namespace

void check_golden_op(const std::string& fixture, const std::vector<std::string>& grads,
                     const GoldenOp& op, DType dtype, const GoldenTolerance& tol,
                     double extra_out_atol, double extra_grad_atol) {
  SCOPED_TRACE(fixture + " in " + dtype_name(dtype));
  const SafetensorsFile f = load_fixture(fixture);
  FixtureInputs in;
  for (const auto& [name, t] : f.tensors) {
    if (is_reference(name)) continue;
    // clone(): the fixture's tensors stay untouched by requires_grad and gradients.
    Tensor x = is_floating(t.dtype()) ? t.to(dtype).clone() : t;
    if (std::find(grads.begin(), grads.end(), name) != grads.end()) x.set_requires_grad();
    in[name] = x;
  }
  for (const std::string& g : grads) ASSERT_TRUE(in.count(g)) << "fixture has no input " << g;

  Tensor out = op(in, f.metadata);
  ASSERT_EQ(out.dtype(), dtype);
  expect_matches("out", out, f.get("out"), tol, extra_out_atol);
  backward(sum(mul(out, f.get("gout").to(dtype))));
  for (const std::string& g : grads) {
    ASSERT_TRUE(in[g].has_grad()) << g << " received no gradient";
    expect_matches(("grad_" + g).c_str(), in[g].grad(), f.get("grad_" + g), tol, extra_grad_atol);
  }
}

}  // namespace attn::test
