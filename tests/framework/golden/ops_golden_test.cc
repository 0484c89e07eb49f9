// Ops against PyTorch (tests/reference/make_fixtures.py): forward values and every input
// gradient, in f64 (agreement to ~1e-10) and in f32 (to ~1e-5 of the tensor's scale).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "framework/ops/cross_entropy.h"
#include "framework/ops/embedding.h"
#include "framework/ops/matmul.h"
#include "framework/ops/norm.h"
#include "framework/ops/rope.h"
#include "framework/ops/softmax.h"
#include "framework/ops/unary.h"
#include "tests/framework/golden/golden_runner.h"
#include "tests/support/fixtures.h"

namespace attn {
namespace {

using test::FixtureInputs;
using test::FixtureMeta;
using test::GoldenTolerance;

// f64 differs from PyTorch only by summation order: 1e-10 absolute plus relative.
constexpr GoldenTolerance kF64{.atol = 1e-10, .atol_rel = 0, .rtol = 1e-10};
// f32: 1e-5 relative per element, plus 1e-6 of the tensor's largest entry so elements that are
// small after cancellation (normalised rows, softmax gradients) are judged at the tensor's scale.
constexpr GoldenTolerance kF32{.atol = 0, .atol_rel = 1e-6, .rtol = 1e-5};

void check_both(const std::string& fixture, const std::vector<std::string>& grads,
                const test::GoldenOp& op) {
  test::check_golden_op(fixture, grads, op, DType::kF64, kF64);
  test::check_golden_op(fixture, grads, op, DType::kF32, kF32);
}

TEST(OpsGolden, Matmul) {
  check_both("ops/matmul", {"a", "b"}, [](const FixtureInputs& in, const FixtureMeta&) {
    return matmul(in.at("a"), in.at("b"));
  });
}

TEST(OpsGolden, Bmm) {
  check_both("ops/bmm", {"a", "b"}, [](const FixtureInputs& in, const FixtureMeta&) {
    return bmm(in.at("a"), in.at("b"));
  });
}

TEST(OpsGolden, Softmax) {
  check_both("ops/softmax", {"x"},
             [](const FixtureInputs& in, const FixtureMeta&) { return softmax(in.at("x")); });
}

TEST(OpsGolden, LogSoftmax) {
  check_both("ops/log_softmax", {"x"},
             [](const FixtureInputs& in, const FixtureMeta&) { return log_softmax(in.at("x")); });
}

TEST(OpsGolden, LayerNorm) {
  check_both("ops/layer_norm", {"x", "weight", "bias"},
             [](const FixtureInputs& in, const FixtureMeta& meta) {
               return layer_norm(in.at("x"), in.at("weight"), in.at("bias"),
                                 std::stod(meta.at("eps")));
             });
}

TEST(OpsGolden, RmsNorm) {
  check_both("ops/rms_norm", {"x", "weight"}, [](const FixtureInputs& in, const FixtureMeta& meta) {
    return rms_norm(in.at("x"), in.at("weight"), std::stod(meta.at("eps")));
  });
}

TEST(OpsGolden, GeluErf) {
  const auto op = [](const FixtureInputs& in, const FixtureMeta&) {
    return gelu(in.at("x"), GeluApprox::kErf);
  };
  test::check_golden_op("ops/gelu_erf", {"x"}, op, DType::kF64, kF64);
  // f32 GELU uses fast_erf (framework/kernels/cpu/fast_math.h, |error| <= 5e-7): the output
  // 0.5 x (1 + erf) may be off by 0.5 |x| 5e-7 and the derivative's CDF term by 0.5 * 5e-7,
  // times |gout| in the gradient. Those bounds are added to the absolute tolerance.
  const SafetensorsFile f = test::load_fixture("ops/gelu_erf");
  constexpr double kErfBound = 5e-7;
  test::check_golden_op("ops/gelu_erf", {"x"}, op, DType::kF32, kF32,
                        0.5 * kErfBound * test::max_abs(f.get("x")),
                        0.5 * kErfBound * test::max_abs(f.get("gout")));
}

TEST(OpsGolden, GeluTanh) {
  check_both("ops/gelu_tanh", {"x"}, [](const FixtureInputs& in, const FixtureMeta&) {
    return gelu(in.at("x"), GeluApprox::kTanh);
  });
}

// sigmoid and SiLU use fast_exp in f32, which is accurate to a few ulp relative, so the default
// f32 tolerance (1e-5 relative) holds without a widening.
TEST(OpsGolden, Relu) {
  check_both("ops/relu", {"x"},
             [](const FixtureInputs& in, const FixtureMeta&) { return relu(in.at("x")); });
}

TEST(OpsGolden, Silu) {
  check_both("ops/silu", {"x"},
             [](const FixtureInputs& in, const FixtureMeta&) { return silu(in.at("x")); });
}

TEST(OpsGolden, Sigmoid) {
  check_both("ops/sigmoid", {"x"},
             [](const FixtureInputs& in, const FixtureMeta&) { return sigmoid(in.at("x")); });
}

TEST(OpsGolden, Tanh) {
  check_both("ops/tanh", {"x"},
             [](const FixtureInputs& in, const FixtureMeta&) { return tanh(in.at("x")); });
}

TEST(OpsGolden, Exp) {
  check_both("ops/exp", {"x"},
             [](const FixtureInputs& in, const FixtureMeta&) { return exp(in.at("x")); });
}

TEST(OpsGolden, Log) {
  check_both("ops/log", {"x"},
             [](const FixtureInputs& in, const FixtureMeta&) { return log(in.at("x")); });
}

// Weighted mean over non-ignored rows, sum_i w_i l_i / sum_i w_i (framework/ops/cross_entropy.h),
// which the fixture spells out in torch; the weights are constants, so only logits get a grad.
TEST(OpsGolden, CrossEntropyWeightedWithIgnoredRows) {
  check_both("ops/cross_entropy", {"logits"}, [](const FixtureInputs& in, const FixtureMeta& meta) {
    CrossEntropyOptions o;
    o.ignore_index = std::stoll(meta.at("ignore_index"));
    o.weights = in.at("weights");
    EXPECT_EQ(meta.at("reduction"), "mean");
    return cross_entropy(in.at("logits"), in.at("targets"), o);
  });
}

Tensor rope_from_meta(const FixtureInputs& in, const FixtureMeta& meta) {
  RopeOptions o;
  o.base = std::stod(meta.at("base"));
  const std::string& pairing = meta.at("pairing");
  EXPECT_TRUE(pairing == "half" || pairing == "interleaved") << pairing;
  o.pairing = pairing == "half" ? RopePairing::kHalf : RopePairing::kInterleaved;
  return rope(in.at("x"), in.at("positions"), o);
}

TEST(OpsGolden, RopeHalf) {
  check_both("ops/rope_half", {"x"}, rope_from_meta);
}

TEST(OpsGolden, RopeInterleaved) {
  check_both("ops/rope_interleaved", {"x"}, rope_from_meta);
}

TEST(OpsGolden, Embedding) {
  check_both("ops/embedding", {"table"}, [](const FixtureInputs& in, const FixtureMeta&) {
    return embedding(in.at("table"), in.at("ids"));
  });
}

TEST(Fixtures, MissingFixtureNamesThePath) {
  try {
    test::load_fixture("ops/no_such_fixture");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(e.where().find("tests/reference/fixtures/ops/no_such_fixture.safetensors"),
              std::string::npos)
        << e.where();
    EXPECT_NE(e.message().find("make_fixtures.py"), std::string::npos);
  }
}

TEST(Fixtures, UnsetSourceDirIsAConfigError) {
  const char* saved = std::getenv("ATTNLAB_SOURCE_DIR");
  ASSERT_NE(saved, nullptr) << "CTest sets ATTNLAB_SOURCE_DIR";
  const std::string root = saved;
  ::unsetenv("ATTNLAB_SOURCE_DIR");
  try {
    test::load_fixture("ops/matmul");
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig);
    EXPECT_EQ(e.where(), "ATTNLAB_SOURCE_DIR");
  }
  ::setenv("ATTNLAB_SOURCE_DIR", root.c_str(), 1);
  EXPECT_TRUE(test::load_fixture("ops/matmul").has("grad_b"));
}

// Every fixture make_fixtures.py writes is covered by a test above.
TEST(Fixtures, OpFixturesAreAllTested) {
  const std::vector<std::string> tested = {
      "bmm",     "cross_entropy", "embedding", "exp",  "gelu_erf", "gelu_tanh", "layer_norm",
      "log",     "log_softmax",   "matmul",    "relu", "rms_norm", "rope_half", "rope_interleaved",
      "sigmoid", "silu",          "softmax",   "tanh"};
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::directory_iterator(test::fixtures_dir() + "/ops"))
    if (e.path().extension() == ".safetensors") found.push_back(e.path().stem().string());
  std::sort(found.begin(), found.end());
  EXPECT_EQ(found, tested);
}

}  // namespace
}  // namespace attn
