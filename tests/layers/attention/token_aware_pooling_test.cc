// TAP adapted to causal sequences (layers/attention/token_aware_pooling.h) and the document
// shift it is built from: closed forms, causality and document isolation, float64 gradient
// checks, bit-identical results for 1 and 2 threads.
#include <gtest/gtest.h>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/core/param_store.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "layers/attention/token_aware_pooling.h"
#include "layers/ops/document_shift.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

const Tensor kCu = Tensor::from_vector<int32_t>({4}, {0, 3, 4, 9});  // documents of 3, 1, 5

TEST(DocumentShift, ShiftsInsideDocumentsWithZerosAtTheirStarts) {
  NoGrad no_grad;
  std::vector<double> x(9 * 2);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i + 1);
  const Tensor xt = Tensor::from_vector<double>({9, 2}, x);
  const std::vector<double> y = document_shift(xt, kCu, 2).to_vector<double>();
  // Token t gets token t - 2 of its own document: tokens 2 (doc 0), 6, 7, 8 (doc 2).
  const std::vector<double> want{0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 9, 10, 11, 12, 13, 14};
  EXPECT_EQ(y, want);
  EXPECT_EQ(document_shift(xt, kCu, 0).to_vector<double>(), x);
  EXPECT_THROW(document_shift(xt, Tensor::from_vector<int32_t>({2}, {0, 8}), 1), Error);
  EXPECT_THROW(document_shift(xt, kCu, -1), Error);
}

TEST(Gradcheck, DocumentShift) {
  const Tensor x = test::random_normal({9, 3}, 1);
  for (int64_t s : {1, 2, 4})
    EXPECT_TRUE(test::gradcheck(
        [&](const std::vector<Tensor>& in) { return document_shift(in[0], kCu, s); }, {x}));
}

struct Tap {
  ParamStore store{DType::kF64};
  std::unique_ptr<TokenAwarePooling> tap;
  explicit Tap(int64_t width) {
    tap = std::make_unique<TokenAwarePooling>(store, "tap", width, 0.5);
    store.finalize();
    store.initialize(3);
  }
};

TEST(Gradcheck, TokenAwarePooling) {
  Tap t(3);
  std::vector<Tensor> inputs{test::random_normal({9, 3}, 2)};
  for (const ParamInfo& p : t.store.params()) inputs.push_back(p.tensor);
  EXPECT_TRUE(test::gradcheck([&](const std::vector<Tensor>& in) { return (*t.tap)(in[0], kCu); },
                              inputs, {.eps = 1e-6, .atol = 1e-8, .rtol = 1e-5}));
}

TEST(TokenAwarePooling, SeesNoFutureTokenAndNoOtherDocument) {
  Tap t(4);
  NoGrad no_grad;
  const Tensor x = test::random_normal({9, 4}, 5, DType::kF64, 1.0, false);
  const std::vector<double> y = (*t.tap)(x, kCu).to_vector<double>();
  // Change token 5 (document 2's second token): tokens 0-4 must not move, 5-8 may.
  Tensor x2 = x.clone();
  x2.data<double>()[5 * 4 + 1] += 1.0;
  const std::vector<double> y2 = (*t.tap)(x2, kCu).to_vector<double>();
  for (int64_t i = 0; i < 5 * 4; ++i) EXPECT_EQ(y[i], y2[i]) << "element " << i;
  bool moved = false;
  for (int64_t i = 5 * 4; i < 9 * 4; ++i) moved |= y[i] != y2[i];
  EXPECT_TRUE(moved);
  // A one-token document is pooled with zeros only: w_0 x + (w_1 + w_2 + w_3) x / 3.
  for (int64_t c = 0; c < 4; ++c) {
    const double v = y[3 * 4 + c], xv = x.to_vector<double>()[3 * 4 + c];
    EXPECT_GE(v / xv, 1.0 / 3.0 - 1e-12);
    EXPECT_LE(v / xv, 1.0 + 1e-12);
  }
}

TEST(Determinism, TokenAwarePoolingSameBitsFor1And2Threads) {
  const Tensor cu = Tensor::from_vector<int32_t>({3}, {0, 700, 1024});
  test::expect_same_bits_for_1_and_2_threads([&] {
    ParamStore store(DType::kF32);
    TokenAwarePooling tap(store, "tap", 64, 0.1);
    store.finalize();
    store.initialize(4);
    const Tensor x = test::random_normal({1024, 64}, 6, DType::kF32);
    const Tensor y = tap(x, cu);
    backward(sum(mul(y, y)));
    std::vector<Tensor> out{y, x.grad()};
    for (const ParamInfo& p : store.params()) out.push_back(p.tensor.grad());
    return out;
  });
}

}  // namespace
}  // namespace attn
