// The interface every attention variant implements (softmax, sink, gated, affine-scaled,
// differential, MoH, ...) and the registry mapping the recipe's `attention.kind` to a variant.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/config/recipe.pb.h"
#include "framework/config/recipe_rules.h"
#include "framework/core/param_store.h"
#include "framework/ops/rope.h"
#include "layers/attention/attention_diagnostics.h"
#include "layers/attention/core_attention_executor.h"
#include "layers/losses/attention_loss.h"
#include "layers/packed_sequences.h"

namespace attn {

// What every variant of one block shares; variant options come from `options` (the recipe's
// Attention message: each variant reads its own block of it).
struct AttentionSpec {
  int64_t width = 0;     // model width D
  int64_t heads = 0;     // query heads (differential variants: query/key maps, see SPEC 5)
  int64_t kv_heads = 0;  // divides heads
  int64_t head_dim = 0;  // query/key width d
  bool bias = true;      // biases of the q/k/v and output projections (gates never have one)
  double init_std = 0.02;
  double proj_init_std = 0.02;  // output projection (scaled for residual depth)
  bool rope = false;
  RopeOptions rope_options;
  double qk_norm_eps = 1e-6;
  int layer = 0;       // 0-based block index: executor key, per-layer constants, diagnostics
  int num_layers = 1;  // blocks in the model (losses averaged over layers)
  attnlab::config::Attention options;
};

// Per-forward inputs beyond x, and the outputs a block reports besides its activation.
struct AttentionContext {
  const PackedSequences& seq;
  CoreAttentionExecutor& executor;
  bool training = false;                        // train/eval behaviour (affine moving average)
  AttentionDiagnostics* diagnostics = nullptr;  // non-null: record SPEC-10 statistics
  AttentionMapRequest* map = nullptr;           // non-null: dense maps of one layer (attnmap)
  // Weighted scalar losses the block adds to the training objective (null: not collected).
  std::vector<Tensor>* aux_losses = nullptr;
  // Attention losses of the run (null: none) and where their per-layer terms go.
  const std::vector<const AttentionLoss*>* attention_losses = nullptr;
  std::vector<AttentionLossTerm>* attention_loss_terms = nullptr;
};

class AttentionLayer {
 public:
  virtual ~AttentionLayer() = default;
  // x [tokens, width] (pre-normed) -> [tokens, width], causal inside each document.
  virtual Tensor forward(const Tensor& x, AttentionContext& ctx) = 0;
};

using AttentionFactory = std::function<std::unique_ptr<AttentionLayer>(
    ParamStore& store, const std::string& name, const AttentionSpec& spec)>;

// Executor key of a layer's core-attention call: a variant making several calls per layer
// (differential: signal and noise maps) numbers them 0, 1, ... so each call keeps its own state.
constexpr int kMaxCoreCallsPerLayer = 4;
inline int core_call_id(int layer, int call = 0) {
  return layer * kMaxCoreCallsPerLayer + call;
}

// A variant's own cross-field rules (e.g. affine-scaled refuses a sliding window), checked by
// recipe validation when the recipe chooses that kind: check.require(ok, {"attention.window",
// "attention.kind"}, "why") reports file:line like the built-in rules.
using AttentionRecipeRule =
    std::function<void(const attnlab::config::Recipe&, config::RuleCheck& check)>;

// Registers a variant for one `attention.kind` value. Each file in layers/attention/variants/
// defines `void register_attention_<file name>()` calling this; the build collects them.
void register_attention(attnlab::config::Attention::Kind kind, AttentionFactory factory,
                        AttentionRecipeRule rule = {});

// Makes recipe validation check the registered variants' rules (once per process; the CLI does
// it at start-up). Without it a recipe is checked by the built-in rules only.
void install_attention_recipe_rules();

// Builds the variant selected by spec.options.kind(); parameters are named "<name>.*".
std::unique_ptr<AttentionLayer> make_attention(ParamStore& store, const std::string& name,
                                               const AttentionSpec& spec);

// True when a variant is registered for `kind`.
bool attention_kind_available(attnlab::config::Attention::Kind kind);

}  // namespace attn
