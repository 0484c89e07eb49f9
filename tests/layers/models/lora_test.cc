// LoRA adapters (layers/linear.h) on a GPT's MLP linears: float64 gradient checks of every
// parameter and adapter (fused bias + GELU and SwiGLU paths), the exact identity of a fresh
// adapter (B = 0), and the adapter's arithmetic against a hand-computed product.
#include <gtest/gtest.h>

#include "framework/autograd/tape.h"
#include "framework/core/param_store.h"
#include "framework/rng/philox.h"
#include "layers/models/gpt.h"
#include "tests/support/gradcheck.h"

namespace attn {
namespace {

GptConfig small_config(MlpType mlp) {
  GptConfig c;
  c.vocab_size = 7;
  c.width = 8;
  c.layers = 2;
  c.heads = 2;
  c.kv_heads = 2;
  c.mlp_hidden = 12;
  c.mlp = mlp;
  c.max_seq_len = 6;
  c.init_std = 0.5;
  return c;
}

GptInput two_documents() {
  GptInput in;
  in.tokens = Tensor::from_vector<int32_t>({10}, {1, 5, 2, 6, 0, 3, 3, 4, 6, 2});
  in.targets = Tensor::from_vector<int32_t>({10}, {5, 2, 6, -100, 3, 3, 4, 6, 2, 1});
  in.seq.positions = Tensor::from_vector<int32_t>({10}, {0, 1, 2, 3, 0, 1, 2, 3, 4, 5});
  in.seq.cu_seqlens = Tensor::from_vector<int32_t>({3}, {0, 4, 10});
  return in;
}

void gradcheck_adapted(MlpType mlp) {
  ParamStore store(DType::kF64), fast(DType::kF64);
  Gpt model(store, small_config(mlp), {{&fast, 3, 6.0}, 1});
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
  const GptInput in = two_documents();
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
  Gpt model(store, small_config(MlpType::kSwiGlu), {{&fast, 4, 8.0}, 1});
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
  EXPECT_THROW(Gpt(other, small_config(MlpType::kGelu), {{&fast, 4, 8.0}, 2}), Error);
}

// B = 0: the adapted model computes the base model's logits to the bit, and A's init follows the
// spec (uniform within 1/sqrt(in)).
TEST(Lora, FreshAdapterLeavesTheModelUnchanged) {
  for (MlpType mlp : {MlpType::kGelu, MlpType::kSwiGlu}) {
    ParamStore base_store, store, fast;
    Gpt base(base_store, small_config(mlp));
    Gpt adapted(store, small_config(mlp), {{&fast, 4, 8.0}, 0});
    for (ParamStore* s : {&base_store, &store, &fast}) {
      s->finalize();
      s->initialize(5);
    }
    const GptInput in = two_documents();
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
