// GPT decoder: float64 gradient checks of the whole model (every parameter) in two
// configurations covering each layer option, bit-identical loss and gradients for 1/2 threads,
// and LoRA adapters on the MLPs.
#include <gtest/gtest.h>

#include <cstring>

#include "framework/autograd/tape.h"
#include "framework/core/param_store.h"
#include "framework/rng/philox.h"
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

// LoRA adapters (layers/linear.h) on the MLP linears: gradient checks of every parameter and
// adapter (fused bias + GELU and SwiGLU paths), the exact identity of a fresh adapter (B = 0),
// and the adapter's arithmetic against a hand-computed product.
GptConfig adapted_config(MlpType mlp) {
  GptConfig c = config_a();
  c.mlp = mlp;
  return c;
}

void gradcheck_adapted(MlpType mlp) {
  ParamStore store(DType::kF64), fast(DType::kF64);
  Gpt model(store, adapted_config(mlp), {{&fast, 3, 6.0}, 1});
  store.finalize();
  store.initialize(7);
  fast.finalize();
  fast.initialize(8);
  // B starts at 0; give it generic values so A's gradient is not zero.
  for (const ParamInfo& p : fast.params())
    if (p.name.ends_with("lora_b")) {
      Tensor b = p.tensor;
      fill_normal(b, 9, 0, 0.0, 0.3);
    }
  std::vector<Tensor> params;
  for (const ParamStore* s : {&store, &fast})
    for (const ParamInfo& p : s->params()) params.push_back(p.tensor);
  const GptInput in = input();
  EXPECT_TRUE(test::gradcheck([&](const std::vector<Tensor>&) { return model.loss(in); }, params,
                              {.eps = 1e-6, .atol = 1e-8, .rtol = 1e-5}));
}

TEST(Gradcheck, GptWithLoraOnGeluMlp) {
  gradcheck_adapted(MlpType::kGelu);
}

TEST(Gradcheck, GptWithLoraOnSwiGluMlp) {
  gradcheck_adapted(MlpType::kSwiGlu);
}

TEST(Lora, AdaptersLiveInTheirStoreOnTheUpperLayersOnly) {
  ParamStore store, fast;
  Gpt model(store, adapted_config(MlpType::kSwiGlu), {{&fast, 4, 8.0}, 1});
  std::vector<std::string> names;
  for (const ParamInfo& p : fast.params()) names.push_back(p.name);
  const std::vector<std::string> expected{"blocks.1.mlp.gate.lora_a", "blocks.1.mlp.gate.lora_b",
                                          "blocks.1.mlp.up.lora_a",   "blocks.1.mlp.up.lora_b",
                                          "blocks.1.mlp.proj.lora_a", "blocks.1.mlp.proj.lora_b"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(fast.find("blocks.1.mlp.gate.lora_a").tensor.shape(), (Shape{4, 8}));
  EXPECT_EQ(fast.find("blocks.1.mlp.proj.lora_b").tensor.shape(), (Shape{8, 4}));
  for (const ParamInfo& p : store.params()) EXPECT_EQ(p.name.find("lora"), std::string::npos);
  ParamStore other;
  EXPECT_THROW(Gpt(other, adapted_config(MlpType::kGelu), {{&fast, 4, 8.0}, 2}), Error);
}

// B = 0: the adapted model computes the base model's logits to the bit, and A's init follows the
// spec (uniform within 1/sqrt(in)).
TEST(Lora, FreshAdapterLeavesTheModelUnchanged) {
  for (MlpType mlp : {MlpType::kGelu, MlpType::kSwiGlu}) {
    ParamStore base_store, store, fast;
    Gpt base(base_store, adapted_config(mlp));
    Gpt adapted(store, adapted_config(mlp), {{&fast, 4, 8.0}, 0});
    for (ParamStore* s : {&base_store, &store, &fast}) {
      s->finalize();
      s->initialize(5);
    }
    const GptInput in = input();
    NoGrad no_grad;
    EXPECT_EQ(base.logits(in).to_vector<float>(), adapted.logits(in).to_vector<float>());
    const Tensor& a = fast.find("blocks.0.mlp.proj.lora_a").tensor;  // in = hidden 12
    double largest = 0;
    for (float v : a.to_vector<float>()) largest = std::max(largest, std::abs(double(v)));
    EXPECT_GT(largest, 0.5 / std::sqrt(12.0));
    EXPECT_LE(largest, 1.0 / std::sqrt(12.0));
  }
}

// y = x W^T + b + (alpha / rank) (x A^T) B^T.
TEST(Lora, LinearAddsTheScaledLowRankProduct) {
  ParamStore store(DType::kF64), fast(DType::kF64);
  Linear lin(store, "l", 2, 1, true, 0.02, {&fast, 1, 3.0});
  store.finalize();
  fast.finalize();
  lin.weight().data<double>()[0] = 0.5;
  lin.weight().data<double>()[1] = -1.0;
  lin.bias().data<double>()[0] = 0.25;
  lin.lora_a().data<double>()[0] = 2.0;
  lin.lora_a().data<double>()[1] = 1.0;
  lin.lora_b().data<double>()[0] = 0.1;
  const Tensor x = Tensor::from_vector<double>({1, 2}, {1.0, 3.0});
  NoGrad no_grad;
  // 0.5 - 3 + 0.25 + 3 * (2 + 3) * 0.1
  EXPECT_NEAR(lin(x).item(), -2.25 + 1.5, 1e-15);
}

}  // namespace
}  // namespace attn
