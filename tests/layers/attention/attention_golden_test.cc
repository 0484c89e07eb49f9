// Core attention against PyTorch (tests/reference/make_fixtures.py, an explicit masked softmax
// per document in f64): out, lse (natural log of the scaled scores), dq, dk and dv.
#include <gtest/gtest.h>

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "layers/attention/core_attention.h"
#include "tests/support/fixtures.h"

namespace attn {
namespace {

struct Tolerance {
  double atol_rel;  // times the largest |element| of the reference tensor
  double rtol;
  double atol = 0;
};

void check_attention(const std::string& fixture, DType dtype, const Tolerance& tol) {
  SCOPED_TRACE(fixture + " in " + dtype_name(dtype));
  const SafetensorsFile f = test::load_fixture(fixture);
  ASSERT_EQ(f.metadata.at("mask"), "causal");
  Tensor q = f.get("q").to(dtype).clone().set_requires_grad();
  Tensor k = f.get("k").to(dtype).clone().set_requires_grad();
  Tensor v = f.get("v").to(dtype).clone().set_requires_grad();
  ASSERT_EQ(q.size(1), std::stoll(f.metadata.at("heads")));
  ASSERT_EQ(k.size(1), std::stoll(f.metadata.at("kv_heads")));
  const Tensor cu = f.get("cu_seqlens");

  CoreAttentionOptions o;
  o.mask.kind = MaskKind::kCausal;
  o.scale = std::stod(f.metadata.at("scale"));
  // Small tiles so the 37- and 40-token problems cross several query and key blocks.
  o.block_q = 8;
  o.block_k = 16;
  CoreAttentionResult r = core_attention(q, k, v, cu, cu, Tensor(), o);

  auto expect_close = [&](const char* what, const Tensor& got, const Tensor& want) {
    const double atol = tol.atol + tol.atol_rel * test::max_abs(want);
    EXPECT_TRUE(test::all_close(got, want, atol, tol.rtol)) << what;
  };
  expect_close("out", r.out, f.get("out"));
  expect_close("lse", r.lse, f.get("lse"));
  backward(sum(mul(r.out, f.get("gout").to(dtype))));
  ASSERT_TRUE(q.has_grad() && k.has_grad() && v.has_grad());
  expect_close("dq", q.grad(), f.get("dq"));
  expect_close("dk", k.grad(), f.get("dk"));
  expect_close("dv", v.grad(), f.get("dv"));
}

// f64: summation order only. f32: inputs rounded to f32 and the kernel's fast_exp; gradients
// sum over up to 40 keys and 2 query heads per kv head, so they are judged at 1e-5 relative
// plus 1e-6 of the tensor's largest entry.
constexpr Tolerance kF64{.atol_rel = 0, .rtol = 1e-10, .atol = 1e-10};
constexpr Tolerance kF32{.atol_rel = 1e-6, .rtol = 1e-5};

TEST(AttentionGolden, CausalSingleDocument) {
  check_attention("attention/causal_t37", DType::kF64, kF64);
  check_attention("attention/causal_t37", DType::kF32, kF32);
}

TEST(AttentionGolden, VarlenGqaThreeDocuments) {
  check_attention("attention/varlen_gqa", DType::kF64, kF64);
  check_attention("attention/varlen_gqa", DType::kF32, kF32);
}

}  // namespace
}  // namespace attn
