// FocuSFT's bilevel step (recipes/procedures/focus_sft.h): which layers get fast weights, the inner
// loop's reach (fast weights only, no tape below them, base weights untouched), the outer step
// (base weights trained, fast weights discarded), and one whole step against a PyTorch
// re-implementation written from the spec (tests/reference/focus_sft_fixtures.py, float64).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <optional>

#include "framework/autograd/tape.h"
#include "framework/config/recipe_loader.h"
#include "optim/adamw.h"
#include "parallel/gradient_sync.h"
#include "recipes/procedures/focus_sft.h"
#include "recipes/procedures/lm_step.h"
#include "recipes/train/data_source.h"
#include "recipes/train/from_recipe.h"
#include "tests/support/fixtures.h"

namespace attn {
namespace {

TEST(FocusSft, FastWeightsGoOnTheTopFractionOfLayers) {
  EXPECT_EQ(focus_first_layer(4, 0.35), 2);  // int(0.65 * 4), as the official code
  EXPECT_EQ(focus_first_layer(20, 0.35), 13);
  EXPECT_EQ(focus_first_layer(12, 0.35), 7);
  EXPECT_EQ(focus_first_layer(3, 0.35), 1);
  EXPECT_EQ(focus_first_layer(1, 0.35), 0);
  EXPECT_EQ(focus_first_layer(3, 0.01), 2);  // at least one layer
  EXPECT_EQ(focus_first_layer(6, 1.0), 0);
}

// A whole training setup on a synthetic task, as the trainer wires it.
struct Rig {
  explicit Rig(int layers = 3, const std::vector<std::string>& overrides = {})
      : recipe(config::load_recipe_from_string(
            fmt::format(
                "name: \"f\"\n"
                "model {{ width: 32 layers: {} heads: 2 seq_len: 128 mlp_ratio: 2 }}\n"
                "data {{ corpus: SYNTHETIC batch_size: 4 synthetic {{ task: PASSKEY "
                "length: 128 train_examples: 16 val_examples: 4 test_examples: 4 }} }}\n"
                "optim {{ lr: 1e-2 warmup_steps: 0 }}\n"
                "train {{ steps: 4 micro_batches: 2 }}\n"
                "procedure {{ kind: FOCUS_SFT focus_sft {{ lora_rank: 4 lora_alpha: 8 }} }}\n",
                layers),
            "f.textproto", overrides)),
        data(open_data_source(recipe)),
        model(store, gpt_config(recipe), focus_sft_adapters(recipe, fast)) {
    store.finalize();
    store.initialize(recipe.train().seed());
    fast.finalize();
    optimizer = make_optimizer(recipe, store);
    optimizer->set_lr(recipe.optim().lr());
    loader = open_train_stream(data, 2, recipe.train().seed(), 0, 1);
    sync = make_local_sync(store);
  }
  TrainingParts parts() {
    return {recipe, model, store, *optimizer, *loader, *sync, comm, comm, "", &fast};
  }
  std::vector<float> base() const { return store.flat_params().to_vector<float>(); }

  config::Recipe recipe;
  DataSource data;
  ParamStore store, fast;
  Gpt model;
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<BatchStream> loader;
  std::unique_ptr<GradientSync> sync;
  LocalComm comm;
};

bool all_zero(const Tensor& t) {
  for (float x : t.to_vector<float>())
    if (x != 0) return false;
  return true;
}

TEST(FocusSft, InnerLoopTrainsOnlyTheFastWeights) {
  Rig rig;
  const TrainingParts parts = rig.parts();
  // fc and proj of layers 1 and 2: int(0.65 * 3) = 1.
  EXPECT_EQ(rig.fast.params().size(), 8u);
  EXPECT_EQ(rig.fast.params().front().name, "blocks.1.mlp.fc.lora_a");
  const std::vector<Batch> batches = next_step_batches(parts);
  const std::vector<float> before = rig.base();
  rig.store.zero_grad();
  reset_fast_weights(parts, 0);
  const std::vector<float> a0 = rig.fast.flat_params().to_vector<float>();
  EXPECT_TRUE(all_zero(rig.fast.find("blocks.2.mlp.proj.lora_b").tensor));
  const std::unique_ptr<Optimizer> sgd = make_inner_sgd(rig.recipe, rig.fast);
  const std::vector<double> losses = adapt_fast_weights(parts, batches, *sgd);
  ASSERT_EQ(losses.size(), 2u);
  EXPECT_LT(losses[1], losses[0]);                // lr 1.0 SGD on the batch's own loss
  EXPECT_EQ(rig.base(), before);                  // base weights untouched ...
  EXPECT_TRUE(all_zero(rig.store.flat_grads()));  // ... and given no gradient
  EXPECT_FALSE(all_zero(rig.fast.find("blocks.2.mlp.proj.lora_b").tensor));
  for (const ParamInfo& p : rig.store.params()) EXPECT_TRUE(p.tensor.requires_grad()) << p.name;
  EXPECT_EQ(tape_size(), 0u);
  // The same step draws the same fast weights; another step others.
  reset_fast_weights(parts, 0);
  EXPECT_EQ(rig.fast.flat_params().to_vector<float>(), a0);
  reset_fast_weights(parts, 1);
  EXPECT_NE(rig.fast.flat_params().to_vector<float>(), a0);
}

// With the base weights off, the tape holds the nodes of the fast layer and those above it only:
// a model with more layers below records exactly as many.
size_t inner_tape_nodes(int layers, bool base_off) {
  Rig rig(layers, {"procedure.focus_sft.top_fraction=0.1"});  // one fast layer, the top
  EXPECT_EQ(rig.fast.params().front().name, fmt::format("blocks.{}.mlp.fc.lora_a", layers - 1));
  const Batch b = next_step_batches(rig.parts()).front();
  std::optional<ParamGradsOff> off;
  if (base_off) off.emplace(rig.store);
  const Tensor l = rig.model.loss(gpt_input(b));
  EXPECT_TRUE(l.requires_grad());
  const size_t n = tape_size();
  clear_tape();
  return n;
}

TEST(FocusSft, LayersBelowTheFastWeightsRecordNoTape) {
  const size_t two = inner_tape_nodes(2, true);
  EXPECT_GT(two, 0u);
  EXPECT_EQ(inner_tape_nodes(6, true), two);
  EXPECT_GT(inner_tape_nodes(2, false), two);  // with the base weights on, every layer records
}

TEST(FocusSft, StepTrainsTheBaseWeightsAndDiscardsTheFastOnes) {
  Rig rig;
  const std::unique_ptr<Procedure> focus = make_procedure(rig.parts());
  const std::vector<float> before = rig.base();
  const StepResult r = focus->step(0, rig.recipe.optim().lr(), nullptr);
  EXPECT_NE(rig.base(), before);
  EXPECT_TRUE(all_zero(rig.fast.flat_params()));  // discarded: the model is the base model again
  ASSERT_TRUE(r.metrics.count("focus/base_loss"));
  EXPECT_LT(r.loss, r.metrics.at("focus/base_loss"));  // the outer loss is the adapted model's
  EXPECT_GT(r.tokens, 0);
  EXPECT_GT(r.grad_norm, 0);
}

// ---------------------------------------------------------------------------------------------
// One step against PyTorch.

class OneBatch final : public BatchStream {
 public:
  explicit OneBatch(Batch b) : b_(std::move(b)) {}
  Batch next() override { return b_; }
  bool has_next() const override { return true; }
  LoaderState state() const override { return {}; }
  void restore(const LoaderState&) override {}

 private:
  Batch b_;
};

double meta_number(const SafetensorsFile& f, const std::string& key) {
  const auto it = f.metadata.find(key);
  if (it == f.metadata.end()) ATTN_FAIL(kInput, "{}: no metadata '{}'", f.path, key);
  return std::stod(it->second);
}

Tensor as_i32(const Tensor& t) {
  return t.to(DType::kI32);
}

TEST(FocusSftGolden, OneStepMatchesPyTorch) {
  const SafetensorsFile f = test::load_fixture("focus_sft");
  ASSERT_EQ(f.metadata.at("mlp"), "gelu");
  ASSERT_EQ(f.metadata.at("norm"), "layernorm");
  ASSERT_EQ(f.metadata.at("positional"), "learned");
  GptConfig c;
  c.vocab_size = static_cast<int64_t>(meta_number(f, "vocab_size"));
  c.width = static_cast<int64_t>(meta_number(f, "width"));
  c.layers = static_cast<int64_t>(meta_number(f, "layers"));
  c.heads = c.kv_heads = static_cast<int64_t>(meta_number(f, "heads"));
  c.mlp_hidden = static_cast<int64_t>(meta_number(f, "mlp_hidden"));
  c.max_seq_len = static_cast<int64_t>(meta_number(f, "max_seq_len"));
  c.norm_eps = meta_number(f, "norm_eps");
  const auto rank = static_cast<int64_t>(meta_number(f, "lora_rank"));
  const int inner_steps = static_cast<int>(meta_number(f, "inner_steps"));
  const config::Recipe recipe = config::load_recipe_from_string(
      fmt::format("procedure {{ kind: FOCUS_SFT focus_sft {{ lora_rank: {} lora_alpha: {} "
                  "inner_steps: {} inner_lr: {} inner_clip: {} }} }}\n"
                  "optim {{ grad_clip: {} }}\ntrain {{ micro_batches: 1 }}\n",
                  rank, f.metadata.at("lora_alpha"), inner_steps, f.metadata.at("inner_lr"),
                  f.metadata.at("inner_clip"), f.metadata.at("grad_clip")),
      "golden.textproto");

  ParamStore store(DType::kF64), fast(DType::kF64);
  Gpt model(store, c,
            {{&fast, rank, meta_number(f, "lora_alpha")},
             static_cast<int64_t>(meta_number(f, "first_layer"))});
  store.finalize();
  fast.finalize();
  for (const ParamInfo& p : store.params()) {
    Tensor t = p.tensor;
    t.copy_from(f.get("param." + p.name));
  }
  for (const ParamInfo& p : fast.params())
    if (p.name.ends_with("lora_a")) {
      Tensor t = p.tensor;
      t.copy_from(f.get("fast." + p.name));
    }
  Batch b;
  b.tokens = as_i32(f.get("tokens"));
  b.targets = as_i32(f.get("targets"));
  b.positions = as_i32(f.get("positions"));
  b.cu_seqlens = as_i32(f.get("cu_seqlens"));
  b.rows = 1;
  b.seq_len = b.tokens.numel();
  for (int32_t t : b.targets.to_vector<int32_t>()) b.target_tokens += t != kIgnoreTarget;

  AdamW adamw(store, {meta_number(f, "lr"), meta_number(f, "beta1"), meta_number(f, "beta2"),
                      meta_number(f, "eps"), meta_number(f, "weight_decay")});
  OneBatch stream(b);
  const std::unique_ptr<GradientSync> sync = make_local_sync(store);
  LocalComm comm;
  const TrainingParts parts{recipe, model, store, adamw, stream, *sync, comm, comm, "", &fast};

  const std::unique_ptr<Optimizer> sgd = make_inner_sgd(recipe, fast);
  const std::vector<double> inner = adapt_fast_weights(parts, {b}, *sgd);
  const std::vector<double> want_inner = f.get("inner_loss").to_vector<double>();
  ASSERT_EQ(inner.size(), want_inner.size());
  for (size_t s = 0; s < inner.size(); ++s) EXPECT_NEAR(inner[s], want_inner[s], 1e-12) << s;
  for (const ParamInfo& p : fast.params())
    EXPECT_TRUE(test::all_close(p.tensor, f.get(fmt::format("fast.{}.{}", inner_steps - 1, p.name)),
                                1e-12, 1e-9))
        << p.name;
  StepResult r;
  {
    ParamGradsOff fast_off(fast);
    r = update_on(parts, {b}, 0, meta_number(f, "lr"), nullptr);
  }
  EXPECT_NEAR(r.loss, f.get("outer_loss").item(), 1e-12);
  EXPECT_NEAR(r.grad_norm, f.get("grad_norm").item(), 1e-10);
  for (const ParamInfo& p : store.params())
    EXPECT_TRUE(test::all_close(p.tensor, f.get("after." + p.name), 1e-12, 1e-9)) << p.name;
}

}  // namespace
}  // namespace attn
