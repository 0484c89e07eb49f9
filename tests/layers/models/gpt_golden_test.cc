// GPT decoder against PyTorch (tests/reference/model_fixtures.py): with the fixture's weights,
// loss and every parameter gradient on a packed batch of documents must match the f64 reference.
// Two configurations cover every layer option the reference models: (a) learned positions,
// LayerNorm, GELU, tied head, biases, MHA; (b) RoPE, RMSNorm, SwiGLU, untied head, no biases, GQA.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "framework/autograd/tape.h"
#include "framework/core/param_store.h"
#include "framework/io/safetensors.h"
#include "layers/models/gpt.h"
#include "tests/support/fixtures.h"

namespace attn {
namespace {

const std::string& meta(const SafetensorsFile& f, const std::string& key) {
  auto it = f.metadata.find(key);
  if (it == f.metadata.end()) ATTN_FAIL(kInput, "{}: no metadata key '{}'", f.path, key);
  return it->second;
}

bool meta_bool(const SafetensorsFile& f, const std::string& key) {
  const std::string& v = meta(f, key);
  if (v != "true" && v != "false") ATTN_FAIL(kInput, "{}: {}='{}' is not a bool", f.path, key, v);
  return v == "true";
}

// The fixture's metadata is the configuration the reference was computed with; every value is
// read (none defaulted) so a generator change cannot silently test a different model.
GptConfig config_from(const SafetensorsFile& f) {
  GptConfig c;
  c.vocab_size = std::stoll(meta(f, "vocab_size"));
  c.width = std::stoll(meta(f, "width"));
  c.layers = std::stoll(meta(f, "layers"));
  c.heads = std::stoll(meta(f, "heads"));
  c.kv_heads = std::stoll(meta(f, "kv_heads"));
  c.mlp_hidden = std::stoll(meta(f, "mlp_hidden"));
  c.max_seq_len = std::stoll(meta(f, "max_seq_len"));
  c.norm_eps = std::stod(meta(f, "norm_eps"));
  c.rope.base = std::stod(meta(f, "rope_base"));
  c.tied_head = meta_bool(f, "tied_head");
  c.bias = meta_bool(f, "bias");
  const std::string& mlp = meta(f, "mlp");
  if (mlp == "gelu")
    c.mlp = MlpType::kGelu;
  else if (mlp == "swiglu")
    c.mlp = MlpType::kSwiGlu;
  else
    ATTN_FAIL(kInput, "{}: unknown mlp '{}'", f.path, mlp);
  const std::string& norm = meta(f, "norm");
  if (norm == "layernorm")
    c.norm = NormType::kLayerNorm;
  else if (norm == "rmsnorm")
    c.norm = NormType::kRmsNorm;
  else
    ATTN_FAIL(kInput, "{}: unknown norm '{}'", f.path, norm);
  const std::string& pos = meta(f, "positional");
  if (pos == "learned")
    c.positional = PositionalType::kLearned;
  else if (pos == "rope")
    c.positional = PositionalType::kRope;
  else
    ATTN_FAIL(kInput, "{}: unknown positional '{}'", f.path, pos);
  if (meta(f, "rope_pairing") != "half")
    ATTN_FAIL(kInput, "{}: unknown rope_pairing '{}'", f.path, meta(f, "rope_pairing"));
  c.rope.pairing = RopePairing::kHalf;
  // Small blocks so the 24-token batch spans several query and key tiles of the kernel.
  c.attention.set_block_q(4);
  c.attention.set_block_k(8);
  return c;
}

// max |got - want|, for the printed report of how close each configuration lands.
double max_abs_diff(const Tensor& got, const Tensor& want) {
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < std::min(g.size(), w.size()); ++i) m = std::max(m, std::abs(g[i] - w[i]));
  return m;
}

// Loads the fixture's weights into a fresh model of `dtype`, runs loss + backward on the fixture
// batch and compares with the reference. Gradient tolerance is relative to the largest reference
// entry of each tensor: f32 errors scale with the magnitudes that were accumulated, not with the
// (possibly tiny) entry itself.
void run_golden(const std::string& fixture, DType dtype, double loss_rtol, double grad_tol) {
  const SafetensorsFile f = test::load_fixture(fixture);
  ParamStore store(dtype);
  Gpt model(store, config_from(f));
  store.finalize();

  std::set<std::string> fixture_params;
  for (const auto& [name, t] : f.tensors)
    if (name.rfind("param.", 0) == 0) fixture_params.insert(name.substr(6));
  std::set<std::string> model_params;
  for (const ParamInfo& p : store.params()) {
    model_params.insert(p.name);
    ASSERT_TRUE(f.has("param." + p.name)) << fixture << " lacks model parameter " << p.name;
    ASSERT_TRUE(f.has("grad." + p.name)) << fixture << " lacks gradient of " << p.name;
    const Tensor& src = f.get("param." + p.name);
    ASSERT_EQ(src.shape(), p.tensor.shape()) << p.name;
    Tensor view = p.tensor;  // handles alias the flat buffer
    view.copy_from(src.to(dtype));
  }
  EXPECT_EQ(model_params, fixture_params) << "parameter sets of model and fixture differ";

  GptInput in;
  in.tokens = f.get("tokens").to(DType::kI32);
  in.targets = f.get("targets").to(DType::kI32);
  in.seq.positions = f.get("positions").to(DType::kI32);
  in.seq.cu_seqlens = f.get("cu_seqlens").to(DType::kI32);
  store.zero_grad();
  const Tensor loss = model.loss(in);
  backward(loss);

  const double want_loss = f.get("loss").to(DType::kF64).item();
  const double loss_err = std::abs(loss.to(DType::kF64).item() - want_loss);
  std::printf("%s %s: loss %.17g (ref %.17g, |err| %.3g)\n", fixture.c_str(),
              dtype == DType::kF64 ? "f64" : "f32", loss.to(DType::kF64).item(), want_loss,
              loss_err);
  EXPECT_LE(loss_err, loss_rtol * std::abs(want_loss)) << fixture << " loss";

  double worst = 0;  // max |err| / max |ref| over all gradients
  std::string worst_name;
  for (const ParamInfo& p : store.params()) {
    const Tensor& want = f.get("grad." + p.name);
    // The floor keeps a (hypothetical) all-zero reference gradient from demanding exact zeros.
    const double scale = std::max(test::max_abs(want), 1e-3);
    EXPECT_TRUE(test::all_close(p.tensor.grad(), want, grad_tol * scale, 0.0))
        << fixture << " grad." << p.name << " (max |ref| " << scale << ")";
    const double rel = max_abs_diff(p.tensor.grad(), want) / scale;
    if (rel >= worst) {
      worst = rel;
      worst_name = p.name;
    }
  }
  std::printf("%s %s: worst gradient error %.3g of max |grad| (%s), tolerance %.0e\n",
              fixture.c_str(), dtype == DType::kF64 ? "f64" : "f32", worst, worst_name.c_str(),
              grad_tol);
}

TEST(GptGolden, LearnedLayerNormGeluTiedF64) {
  run_golden("gpt_a.safetensors", DType::kF64, 1e-12, 1e-10);
}

TEST(GptGolden, RopeRmsNormSwiGluGqaUntiedF64) {
  run_golden("gpt_b.safetensors", DType::kF64, 1e-12, 1e-10);
}

// f32: the reference is f64, so these measure our f32 rounding. The loss (a mean of ~20
// log-sum-exps of O(1) logits) lands ~6e-8 relative off; gradients, after two blocks of 32..128
// long f32 dot products and the kernels' fast f32 exp/erf, ~1e-6 of each tensor's largest entry.
// 1e-5 for both keeps a ~10x margin; a real bug is far above it (attention across document
// boundaries moves the loss by ~2e-3 relative).
TEST(GptGolden, LearnedLayerNormGeluTiedF32) {
  run_golden("gpt_a.safetensors", DType::kF32, 1e-5, 1e-5);
}

TEST(GptGolden, RopeRmsNormSwiGluGqaUntiedF32) {
  run_golden("gpt_b.safetensors", DType::kF32, 1e-5, 1e-5);
}

}  // namespace
}  // namespace attn
