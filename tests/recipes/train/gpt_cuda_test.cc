// The GPT of every attention kind on a GPU against the same model on the CPU (skipped without a
// GPU): loss and every parameter's gradient after one forward and backward.
//
// Tolerance: f32 on both sides with different summation orders (cuBLASLt, block reductions,
// the tiled attention kernel): 2e-5 relative on the loss, and per gradient element 1e-4 of the
// largest gradient magnitude of its parameter (small elements are sums of cancelling terms).
#include <cmath>
#include <string>
#include <vector>

#include "framework/autograd/tape.h"
#include "framework/config/recipe_loader.h"
#include "framework/core/param_store.h"
#include "layers/models/gpt.h"
#include "recipes/train/from_recipe.h"
#include "tests/framework/cuda/cuda_test.h"

namespace attn {
namespace {

using test::Cuda;

GptInput input(Device device) {
  // Two documents (7 and 9 tokens), one ignored target.
  const int64_t n = 16;
  std::vector<int32_t> tokens(n), targets(n), positions(n);
  for (int64_t i = 0; i < n; ++i) {
    tokens[i] = static_cast<int32_t>((i * 37 + 11) % 256);
    targets[i] = static_cast<int32_t>((i * 53 + 7) % 256);
    positions[i] = static_cast<int32_t>(i < 7 ? i : i - 7);
  }
  targets[5] = -100;
  GptInput in;
  in.tokens = Tensor::from_vector<int32_t>({n}, tokens).to(device);
  in.targets = Tensor::from_vector<int32_t>({n}, targets).to(device);
  in.seq.positions = Tensor::from_vector<int32_t>({n}, positions).to(device);
  in.seq.cu_seqlens = Tensor::from_vector<int32_t>({3}, {0, 7, 16});  // host metadata
  return in;
}

struct Run {
  double loss = 0;
  Tensor grads;  // flat, on the host
};

Run run(const GptConfig& c, Device device) {
  ParamStore store(DType::kF32, device);
  Gpt model(store, c);
  store.finalize();
  store.initialize(3);
  GptForward f;
  f.training = true;
  Tensor l = model.loss(input(device), f);
  backward(l);
  return {l.item(), store.flat_grads().to(Device::cpu())};
}

void expect_same_model(const std::string& sets) {
  SCOPED_TRACE(sets);
  std::vector<std::string> overrides = {"model.width=32", "model.layers=2", "model.heads=4",
                                        "model.seq_len=16", "model.init_std=0.2"};
  for (size_t b = 0, e; b < sets.size(); b = e + 1) {
    e = sets.find(' ', b);
    if (e == std::string::npos) e = sets.size();
    if (e > b) overrides.push_back(sets.substr(b, e - b));
  }
  const config::Recipe r = config::load_recipe_from_string("", "gpt_cuda_test", overrides);
  const GptConfig c = gpt_config(r);
  const Run cpu = run(c, Device::cpu()), gpu = run(c, Device::cuda());
  EXPECT_NEAR(gpu.loss, cpu.loss, 2e-5 * std::abs(cpu.loss));
  ParamStore layout(DType::kF32);
  Gpt model(layout, c);
  layout.finalize();
  const std::vector<float> gc = cpu.grads.to_vector<float>(), gg = gpu.grads.to_vector<float>();
  for (const ParamInfo& p : layout.params()) {
    float scale = 0;
    for (int64_t i = 0; i < p.tensor.numel(); ++i)
      scale = std::max(scale, std::abs(gc[p.offset + i]));
    for (int64_t i = 0; i < p.tensor.numel(); ++i)
      ASSERT_NEAR(gg[p.offset + i], gc[p.offset + i], 1e-4 * scale + 1e-8)
          << p.name << " element " << i;
  }
}

TEST_F(Cuda, GptSoftmaxMatchesCpu) {
  expect_same_model("");
}
TEST_F(Cuda, GptGqaRopeQkNormRmsSwigluMatchesCpu) {
  expect_same_model(
      "model.kv_heads=2 model.positional=ROPE attention.qk_norm=true model.norm=RMSNORM "
      "model.mlp=SWIGLU model.tied_head=false model.bias=false attention.window=5");
}
TEST_F(Cuda, GptSinkMatchesCpu) {
  expect_same_model("attention.kind=SINK");
}
TEST_F(Cuda, GptGatedMatchesCpu) {
  expect_same_model("attention.kind=GATED");
  expect_same_model("attention.kind=GATED attention.gated.granularity=ELEMENTWISE");
}
TEST_F(Cuda, GptAffineScaledMatchesCpu) {
  expect_same_model("attention.kind=AFFINE_SCALED attention.affine.gate=true");
}
TEST_F(Cuda, GptDifferentialMatchesCpu) {
  expect_same_model("attention.kind=DIFFERENTIAL");
  expect_same_model("attention.kind=GROUPED_DIFFERENTIAL model.heads=4");
}
TEST_F(Cuda, GptMohMatchesCpu) {
  expect_same_model("attention.kind=MOH");
}

}  // namespace
}  // namespace attn
