// GPT decoder: token (+ learned position) embedding, pre-norm blocks of self-attention and MLP
// with residuals, final norm, vocabulary head (optionally tied to the token embedding).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "layers/attention/attention_layer.h"
#include "layers/attention/token_aware_pooling.h"
#include "layers/embedding.h"
#include "layers/mlp.h"
#include "layers/norm.h"

namespace attn {

enum class PositionalType { kLearned, kRope, kNone };

struct GptConfig {
  int64_t vocab_size = 256;
  int64_t width = 128;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t kv_heads = 4;
  int64_t mlp_hidden = 512;
  MlpType mlp = MlpType::kGelu;
  NormType norm = NormType::kLayerNorm;
  double norm_eps = 1e-5;
  PositionalType positional = PositionalType::kLearned;
  RopeOptions rope;
  bool tied_head = true;
  bool bias = true;
  int64_t max_seq_len = 256;  // rows of the learned position table
  double init_std = 0.02;
  bool scale_residual_init = true;  // output projections: init_std / sqrt(2 layers) (GPT-2)
  // The attention variant and its options (head_dim = width / heads); kind 0 = SOFTMAX.
  attnlab::config::Attention attention;
};

// LoRA adapters on the MLP linears of blocks first_layer and above (FocuSFT's fast weights, or
// plain LoRA fine-tuning when lora.store is the model's own store).
struct MlpAdapters {
  LoraOptions lora;
  int64_t first_layer = 0;
};

// What one forward does besides computing the output.
struct GptForward {
  bool training = false;                        // train-mode behaviour of the layers
  AttentionDiagnostics* diagnostics = nullptr;  // record SPEC-10 statistics
  AttentionMapRequest* map = nullptr;           // dense weights of one layer (one document)
  double* aux_loss = nullptr;                   // loss(): receives the auxiliary losses' sum
  // loss() in training: receives each attention loss's term per layer (for logging).
  std::vector<AttentionLossTerm>* attention_loss_terms = nullptr;
};

// One packed batch of documents; targets -100 are ignored by the loss, which weights each token
// by seq.loss_weights when given (mean over the weights).
struct GptInput {
  Tensor tokens;   // i32 [tokens]
  Tensor targets;  // i32 [tokens] (only for loss())
  PackedSequences seq;
};

class Gpt {
 public:
  // Declares every parameter in `store` (call store.finalize() and initialize() afterwards), and
  // the adapters' in adapters.lora.store when set (finalize and initialize that one too).
  Gpt(ParamStore& store, const GptConfig& config, const MlpAdapters& adapters = {});

  Tensor logits(const GptInput& in, const GptForward& f = {}) const;  // [tokens, vocab]
  // Weighted mean cross-entropy over non-ignored targets, plus the layers' auxiliary losses (MoH
  // load balance) when f.training.
  Tensor loss(const GptInput& in, const GptForward& f = {}) const;

  const GptConfig& config() const { return c_; }
  Device device() const { return device_; }  // where the parameters (and inputs) live
  // Core attention runs through this executor (default: local); not owned.
  void set_executor(CoreAttentionExecutor* executor) { executor_ = executor; }
  // Attention losses added to the training loss (their terms count as auxiliary losses); not
  // owned. Variants that cannot take one on a selected layer refuse it at the first forward.
  void set_attention_losses(std::vector<const AttentionLoss*> losses) {
    attention_losses_ = std::move(losses);
  }
  const std::vector<const AttentionLoss*>& attention_losses() const { return attention_losses_; }

 private:
  struct Block {
    Norm norm1;
    std::unique_ptr<AttentionLayer> attn;
    Norm norm2;
    Mlp mlp;
    std::optional<TokenAwarePooling> tap;  // attention.tap: pools the branch's input
  };
  // After the final norm, [tokens, width]; auxiliary losses are appended to `aux`.
  Tensor hidden(const GptInput& in, const GptForward& f, std::vector<Tensor>* aux) const;

  GptConfig c_;
  Device device_;
  Embedding wte_;
  std::unique_ptr<Embedding> wpe_;
  std::vector<std::unique_ptr<Block>> blocks_;
  std::optional<Norm> norm_f_;
  Tensor head_;  // [vocab, width]: wte's weight when tied
  CoreAttentionExecutor* executor_;
  std::vector<const AttentionLoss*> attention_losses_;
};

}  // namespace attn
