#include "layers/models/gpt.h"

#include <cmath>

#include "framework/core/error.h"
#include "framework/ops/cross_entropy.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/matmul.h"

namespace attn {

Gpt::Gpt(ParamStore& store, const GptConfig& c, const MlpAdapters& adapters)
    : c_(c),
      device_(store.device()),
      wte_(store, "wte", c.vocab_size, c.width, c.init_std),
      executor_(&local_core_attention()) {
  ATTN_CHECK(c.heads > 0 && c.width % c.heads == 0, "heads {} must divide width {}", c.heads,
             c.width);
  // Declaration order is the checkpoint order: embeddings, blocks, final norm, head.
  if (c.positional == PositionalType::kLearned)
    wpe_ = std::make_unique<Embedding>(store, "wpe", c.max_seq_len, c.width, c.init_std);
  const double proj_std = c.scale_residual_init
                              ? c.init_std / std::sqrt(2.0 * static_cast<double>(c.layers))
                              : c.init_std;
  AttentionSpec a;
  a.width = c.width;
  a.heads = c.heads;
  a.kv_heads = c.kv_heads;
  a.head_dim = c.width / c.heads;
  a.bias = c.bias;
  a.init_std = c.init_std;
  a.proj_init_std = proj_std;
  a.rope = c.positional == PositionalType::kRope;
  a.rope_options = c.rope;
  a.num_layers = static_cast<int>(c.layers);
  a.options = c.attention;
  ATTN_CHECK(
      !adapters.lora.enabled() || (adapters.first_layer >= 0 && adapters.first_layer < c.layers),
      "MLP adapters from layer {} of a {}-layer model", adapters.first_layer, c.layers);
  for (int64_t i = 0; i < c.layers; ++i) {
    MlpConfig m{.width = c.width,
                .hidden = c.mlp_hidden,
                .type = c.mlp,
                .bias = c.bias,
                .init_std = c.init_std,
                .proj_init_std = proj_std,
                .lora = i >= adapters.first_layer ? adapters.lora : LoraOptions{}};
    const std::string b = "blocks." + std::to_string(i);
    a.layer = static_cast<int>(i);
    Norm norm1(store, b + ".norm1", c.norm, c.width, c.norm_eps);
    std::unique_ptr<AttentionLayer> attention = make_attention(store, b + ".attn", a);
    blocks_.push_back(
        std::unique_ptr<Block>(new Block{std::move(norm1), std::move(attention),
                                         Norm(store, b + ".norm2", c.norm, c.width, c.norm_eps),
                                         Mlp(store, b + ".mlp", m), std::nullopt}));
    if (c.attention.tap()) blocks_.back()->tap.emplace(store, b + ".tap", c.width, c.init_std);
  }
  norm_f_.emplace(store, "norm_f", c.norm, c.width, c.norm_eps);
  head_ = c.tied_head ? wte_.weight()
                      : store.declare("head.weight", {c.vocab_size, c.width},
                                      ParamInit::normal(c.init_std));
}

Tensor Gpt::hidden(const GptInput& in, const GptForward& f, std::vector<Tensor>* aux) const {
  ATTN_CHECK(in.tokens.ndim() == 1, "Gpt: tokens must be [tokens], got {}", in.tokens.str());
  Tensor x = wte_(in.tokens);
  if (wpe_) x = add(x, (*wpe_)(in.seq.positions));
  AttentionContext ctx{in.seq, *executor_, f.training, f.diagnostics, f.map, aux};
  // Attention losses shape the training objective only (loss(), training forwards).
  std::vector<AttentionLossTerm> terms;
  if (aux && f.training && !attention_losses_.empty()) {
    ctx.attention_losses = &attention_losses_;
    ctx.attention_loss_terms = &terms;
  }
  // Each residual add is fused into the norm that follows it (the next sublayer's, or norm_f).
  Tensor normed = blocks_.empty() ? (*norm_f_)(x) : blocks_[0]->norm1(x);
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Block& b = *blocks_[i];
    // TAP pools the residual stream before the branch's norm (as the official block); the
    // residual itself is not pooled.
    const Tensor branch_in = b.tap ? b.norm1((*b.tap)(x, in.seq.cu_seqlens)) : normed;
    AddNormResult mid = b.norm2.add_then_norm(x, b.attn->forward(branch_in, ctx));
    const Norm& next = i + 1 < blocks_.size() ? blocks_[i + 1]->norm1 : *norm_f_;
    AddNormResult end = next.add_then_norm(mid.sum, b.mlp(mid.normed));
    x = end.sum;
    normed = end.normed;
    if (f.diagnostics) f.diagnostics->record_residual(static_cast<int>(i), in.seq.positions, x);
  }
  for (const AttentionLossTerm& t : terms) aux->push_back(t.value);
  if (f.attention_loss_terms) *f.attention_loss_terms = std::move(terms);
  return normed;
}

Tensor Gpt::logits(const GptInput& in, const GptForward& f) const {
  return matmul(hidden(in, f, nullptr), head_, false, true);
}

Tensor Gpt::loss(const GptInput& in, const GptForward& f) const {
  std::vector<Tensor> aux;
  CrossEntropyOptions ce;
  ce.weights = in.seq.loss_weights;  // response-only losses: 0 on context tokens
  Tensor l = cross_entropy(matmul(hidden(in, f, &aux), head_, false, true), in.targets, ce);
  double aux_sum = 0;
  if (f.training)
    for (const Tensor& a : aux) {
      l = add(l, a);
      aux_sum += a.item();
    }
  if (f.aux_loss) *f.aux_loss = aux_sum;
  return l;
}

}  // namespace attn
