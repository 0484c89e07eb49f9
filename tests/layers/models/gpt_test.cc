// GPT decoder: float64 gradient checks of the whole model (every parameter) in two
// configurations covering each layer option, and bit-identical loss and gradients for 1/2 threads.
#include <gtest/gtest.h>

#include <cstring>

#include "framework/autograd/tape.h"
#include "framework/core/param_store.h"
#include "layers/models/gpt.h"
#include "tests/support/blas_core_types.h"
#include "tests/support/gradcheck.h"

namespace attn {
namespace {

// Learned positions, LayerNorm, GELU, tied head, biases, MHA.
GptConfig config_a() {
  GptConfig c;
  c.vocab_size = 7;
  c.width = 8;
  c.layers = 2;
  c.heads = 2;
  c.kv_heads = 2;
  c.mlp_hidden = 12;
  c.max_seq_len = 6;
  c.init_std = 0.5;  // large enough that every path carries gradient
  return c;
}

// RoPE, RMSNorm, SwiGLU, untied head, no biases, GQA, QK-norm, learnable sink.
GptConfig config_b() {
  GptConfig c = config_a();
  c.layers = 1;
  c.heads = 2;
  c.kv_heads = 1;
  c.width = 8;
  c.mlp = MlpType::kSwiGlu;
  c.norm = NormType::kRmsNorm;
  c.positional = PositionalType::kRope;
  c.tied_head = false;
  c.bias = false;
  c.attention.set_qk_norm(true);
  c.attention.set_kind(attnlab::config::Attention::SINK);
  return c;
}

// Two documents (4 and 6 tokens), one ignored target.
GptInput input(DType index_dtype = DType::kI32) {
  GptInput in;
  in.tokens = Tensor::from_vector<int32_t>({10}, {1, 5, 2, 6, 0, 3, 3, 4, 6, 2});
  in.targets = Tensor::from_vector<int32_t>({10}, {5, 2, 6, -100, 3, 3, 4, 6, 2, 1});
  in.seq.positions = Tensor::from_vector<int32_t>({10}, {0, 1, 2, 3, 0, 1, 2, 3, 4, 5});
  in.seq.cu_seqlens = Tensor::from_vector<int32_t>({3}, {0, 4, 10});
  (void)index_dtype;
  return in;
}

void gradcheck_model(const GptConfig& c) {
  ParamStore store(DType::kF64);
  Gpt model(store, c);
  store.finalize();
  store.initialize(7);
  // Sinks and norm weights start at 0 / 1; move them so their gradients are generic.
  for (const ParamInfo& p : store.params())
    if (p.name.find("norm") != std::string::npos || p.name.find("sink") != std::string::npos) {
      double* d = p.tensor.data<double>();
      for (int64_t i = 0; i < p.tensor.numel(); ++i) d[i] += 0.1 * static_cast<double>(i % 5) - 0.2;
    }
  std::vector<Tensor> params;
  for (const ParamInfo& p : store.params()) params.push_back(p.tensor);
  const GptInput in = input();
  EXPECT_TRUE(test::gradcheck([&](const std::vector<Tensor>&) { return model.loss(in); }, params,
                              {.eps = 1e-6, .atol = 1e-8, .rtol = 1e-5}));
}

TEST(Gradcheck, GptLearnedLayerNormGeluTied) {
  gradcheck_model(config_a());
}

TEST(Gradcheck, GptRopeRmsNormSwiGluGqaSink) {
  gradcheck_model(config_b());
}

// attention.tap: the pooled branch input through every block (two documents, so the pooling's
// document boundaries are crossed by the check).
TEST(Gradcheck, GptWithTokenAwarePooling) {
  GptConfig c = config_a();
  c.attention.set_tap(true);
  gradcheck_model(c);
}

TEST(Gpt, ParameterNamesFollowTheCheckpointConvention) {
  ParamStore store;
  Gpt model(store, config_b());
  store.finalize();
  std::vector<std::string> names;
  for (const ParamInfo& p : store.params()) names.push_back(p.name);
  const std::vector<std::string> expected{"wte.weight",
                                          "blocks.0.norm1.weight",
                                          "blocks.0.attn.qkv.weight",
                                          "blocks.0.attn.proj.weight",
                                          "blocks.0.attn.q_norm.weight",
                                          "blocks.0.attn.k_norm.weight",
                                          "blocks.0.attn.sink",
                                          "blocks.0.norm2.weight",
                                          "blocks.0.mlp.gate.weight",
                                          "blocks.0.mlp.up.weight",
                                          "blocks.0.mlp.proj.weight",
                                          "norm_f.weight",
                                          "head.weight"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(store.find("blocks.0.attn.qkv.weight").tensor.shape(), (Shape{(2 + 2) * 4, 8}));
  EXPECT_FALSE(store.find("wte.weight").weight_decay);
  EXPECT_TRUE(store.find("blocks.0.mlp.up.weight").weight_decay);
}

TEST(Gpt, RejectsBadInput) {
  ParamStore store;
  GptConfig bad = config_a();
  bad.heads = 3;  // does not divide width 8
  EXPECT_THROW(Gpt(store, bad), Error);
}

TEST(Determinism, GptLossAndGradients) {
  test::expect_same_bits_for_1_and_2_threads([] {
    ParamStore store;
    GptConfig c = config_a();
    c.width = 64;
    c.heads = 4;
    c.kv_heads = 4;
    c.mlp_hidden = 256;
    c.init_std = 0.02;
    Gpt model(store, c);
    store.finalize();
    store.initialize(3);
    Tensor loss = model.loss(input());
    backward(loss);
    return std::vector<Tensor>{loss, store.flat_grads()};
  });
}

// The batch's loss weights reach the loss: weight 0 on a token is the same as ignoring its target
// (response-only SFT losses), and other weights change the mean.
TEST(Gpt, LossWeightsComeWithTheBatch) {
  ParamStore store(DType::kF64);
  Gpt model(store, config_a());
  store.finalize();
  store.initialize(4);
  GptInput weighted = input(), ignored = input();
  weighted.seq.loss_weights = Tensor::from_vector<double>({10}, {1, 1, 1, 1, 0, 0, 1, 1, 1, 0});
  std::vector<int32_t> t = ignored.targets.to_vector<int32_t>();
  t[4] = t[5] = t[9] = -100;
  ignored.targets = Tensor::from_vector<int32_t>({10}, t);
  EXPECT_DOUBLE_EQ(model.loss(weighted).item(), model.loss(ignored).item());
  GptInput plain = input();
  EXPECT_NE(model.loss(plain).item(), model.loss(ignored).item());
}

TEST(BlasCoreTypes, GptStepSameBitsForAnyThreadCount) {
  test::expect_filter_passes_under_every_core_type("Determinism.*");
}

}  // namespace
}  // namespace attn
