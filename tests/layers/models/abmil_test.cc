// ABMIL (layers/models/abmil.h) and AEM's MIL term (layers/losses/aem_mil.h): the forward, the
// cross-entropy + lambda * negative-entropy loss and every gradient against the PyTorch fixture
// of tests/reference/mil_fixtures.py (f64, and f32 at f32 tolerance); float64 gradient checks of
// the pooling term and of the whole loss w.r.t. the instances; the term's bounds; bad bags.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/cross_entropy.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "layers/losses/aem_mil.h"
#include "layers/models/abmil.h"
#include "layers/models/word_bag_encoder.h"
#include "tests/support/fixtures.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

AbmilConfig fixture_config(const SafetensorsFile& f) {
  AbmilConfig c;
  c.input_dim = std::stoll(f.metadata.at("input_dim"));
  c.hidden = std::stoll(f.metadata.at("hidden"));
  c.attention_dim = std::stoll(f.metadata.at("attention_dim"));
  c.classes = std::stoll(f.metadata.at("classes"));
  return c;
}

Tensor bag_loss(const Abmil& model, const Tensor& x, int32_t label, double lambda) {
  const AbmilOutput out = model.forward(x);
  const Tensor target = Tensor::from_vector<int32_t>({1}, {label});
  return add(cross_entropy(out.logits, target),
             scale(pooling_negative_entropy(out.scores), lambda));
}

void check_golden(DType dtype, double tol) {
  SCOPED_TRACE(dtype == DType::kF64 ? "f64" : "f32");
  const SafetensorsFile f = test::load_fixture("mil/abmil");
  ParamStore store(dtype);
  const Abmil model(store, fixture_config(f));
  store.finalize();
  std::set<std::string> names;
  for (const ParamInfo& p : store.params()) {
    names.insert(p.name);
    ASSERT_TRUE(f.has("param." + p.name)) << "fixture lacks " << p.name;
    Tensor view = p.tensor;
    view.copy_from(f.get("param." + p.name).to(dtype));
  }
  EXPECT_EQ(names.size(), 9u);
  Tensor x = f.get("x").to(dtype).set_requires_grad();
  const AbmilOutput out = model.forward(x);
  auto close = [&](const char* what, const Tensor& got, const Tensor& want) {
    EXPECT_TRUE(
        test::all_close(got.to(DType::kF64), want, tol * std::max(test::max_abs(want), 1.0), tol))
        << what;
  };
  close("logits", out.logits, f.get("logits"));
  close("scores", out.scores, f.get("scores"));
  close("weights", out.weights, f.get("weights"));
  close("neg_entropy", pooling_negative_entropy(out.scores), f.get("neg_entropy"));
  store.zero_grad();
  const Tensor loss =
      bag_loss(model, x, std::stoi(f.metadata.at("label")), std::stod(f.metadata.at("lambda")));
  close("loss", loss, f.get("loss"));
  backward(loss);
  close("grad_x", x.grad(), f.get("grad_x"));
  for (const ParamInfo& p : store.params())
    close(p.name.c_str(), p.tensor.grad(), f.get("grad." + p.name));
}

TEST(AbmilGolden, ForwardLossAndGradientsMatchPyTorch) {
  check_golden(DType::kF64, 1e-12);
  check_golden(DType::kF32, 2e-5);
}

TEST(Gradcheck, PoolingNegativeEntropy) {
  const Tensor a = test::random_normal({1, 9}, 3, DType::kF64, 2.0);
  EXPECT_TRUE(test::gradcheck([](auto& in) { return pooling_negative_entropy(in[0]); }, {a}));
}

TEST(Gradcheck, AbmilBagLossThroughTheInstances) {
  ParamStore store(DType::kF64);
  AbmilConfig c;
  c.input_dim = 5, c.hidden = 6, c.attention_dim = 3, c.classes = 2, c.init_std = 0.7;
  const Abmil model(store, c);
  store.finalize();
  store.initialize(17);
  // For this seed no ReLU input lies within eps of its kink at 0.
  const Tensor x = test::random_normal({6, 5}, 4, DType::kF64, 1.3);
  EXPECT_TRUE(test::gradcheck([&](auto& in) { return bag_loss(model, in[0], 1, 0.1); }, {x},
                              {.eps = 1e-6, .atol = 1e-8, .rtol = 1e-5}));
}

TEST(AemMil, TermIsTheNegativeEntropyOfThePooling) {
  const Tensor uniform = Tensor::zeros({1, 8}, DType::kF64);
  EXPECT_NEAR(pooling_negative_entropy(uniform).item(), -std::log(8.0), 1e-14);
  const Tensor peaked = Tensor::from_vector<double>({4}, {0, 0, 60, 0});
  EXPECT_NEAR(pooling_negative_entropy(peaked).item(), 0.0, 1e-20 + 1e-24);
  const Tensor single = Tensor::zeros({1, 1}, DType::kF64);
  EXPECT_EQ(pooling_negative_entropy(single).item(), 0.0);
  EXPECT_THROW(pooling_negative_entropy(Tensor::zeros({2, 3}, DType::kF64)), Error);
}

TEST(Abmil, RefusesBadBagsAndConfigs) {
  ParamStore store(DType::kF64);
  AbmilConfig c;
  c.input_dim = 4;
  const Abmil model(store, c);
  store.finalize();
  EXPECT_THROW(model.forward(Tensor::zeros({3, 5}, DType::kF64)), Error);  // width
  EXPECT_THROW(model.forward(Tensor::zeros({0, 4}, DType::kF64)), Error);  // empty bag
  ParamStore other(DType::kF64);
  AbmilConfig bad = c;
  bad.classes = 1;
  EXPECT_THROW(Abmil(other, bad), Error);
}

// The encoder's output is each sentence's mean table row, and its table gradient matches central
// differences of a random projection (a float64 gradient check over the parameter itself).
TEST(WordBagEncoder, SentenceMeansAndTheirTableGradient) {
  ParamStore store(DType::kF64);
  const WordBagEncoder enc(store, 7, 3, 0.5);
  store.finalize();
  store.initialize(5);
  const std::vector<int32_t> words = {1, 4, 4, 0, 6, 2};
  const std::vector<int64_t> offsets = {0, 3, 4, 6};  // sentences {1, 4, 4}, {0}, {6, 2}
  const Tensor table = store.params().front().tensor;
  const std::vector<double> t = table.to_vector<double>();
  const Tensor out = enc.forward(words, offsets);
  ASSERT_EQ(out.shape(), (Shape{3, 3}));
  const std::vector<double> o = out.to_vector<double>();
  for (int j = 0; j < 3; ++j) {
    EXPECT_NEAR(o[0 * 3 + j], (t[1 * 3 + j] + 2 * t[4 * 3 + j]) / 3, 1e-15);
    EXPECT_NEAR(o[1 * 3 + j], t[0 * 3 + j], 1e-15);
    EXPECT_NEAR(o[2 * 3 + j], (t[6 * 3 + j] + t[2 * 3 + j]) / 2, 1e-15);
  }
  const Tensor r = test::random_normal({3, 3}, 8, DType::kF64, 1.0, false);
  const std::vector<double> rv = r.to_vector<double>();
  auto projected = [&] {
    const std::vector<double> y = enc.forward(words, offsets).to_vector<double>();
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += y[i] * rv[i];
    return s;
  };
  store.zero_grad();
  backward(sum(mul(enc.forward(words, offsets), r)));
  const std::vector<double> g = table.grad().to_vector<double>();
  double* p = table.data<double>();
  for (int64_t i = 0; i < table.numel(); ++i) {
    const double saved = p[i];
    p[i] = saved + 1e-6;
    const double plus = projected();
    p[i] = saved - 1e-6;
    const double minus = projected();
    p[i] = saved;
    EXPECT_NEAR(g[i], (plus - minus) / 2e-6, 1e-8) << "table element " << i;
  }
  EXPECT_THROW(enc.forward({7}, {0, 1}), Error);        // id outside the table
  EXPECT_THROW(enc.forward({1, 2}, {0, 0, 2}), Error);  // an empty sentence
  EXPECT_THROW(enc.forward({1, 2}, {0, 1}), Error);     // offsets do not cover the words
}

}  // namespace
}  // namespace attn
