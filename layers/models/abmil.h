// ABMIL, attention-based multiple-instance learning (Ilse et al. 2018) in the form AEM's MIL
// experiments use (SPEC-attention section 7): a bag's instance features x_n are reduced by a
// Linear without bias + ReLU to h_n, pooled by gated attention with biases
//   a_n = w^T (tanh(V h_n + b_V) * sigmoid(U h_n + b_U)) + b_w,  p = softmax(a),  z = sum p_n h_n,
// and classified by a Linear: logits = W_c z + b_c. One bag per call (the paper's batch of 1).
// The second model kind beside the GPT: no sequence, no core attention; its one attention map is
// the pooling distribution p, which AEM's MIL form regularises (layers/losses/aem_mil.h).
#pragma once

#include <string>

#include "framework/core/param_store.h"
#include "layers/linear.h"

namespace attn {

struct AbmilConfig {
  int64_t input_dim = 0;       // width of the instance features x_n
  int64_t hidden = 128;        // L: width of h_n after the reduction
  int64_t attention_dim = 64;  // D: width of the gated attention's V and U
  int64_t classes = 2;
  double init_std = 0.02;
};

struct AbmilOutput {
  Tensor logits;   // [1, classes]
  Tensor scores;   // [1, N] the attention logits a_n
  Tensor weights;  // [1, N] the pooling distribution p = softmax(a)
};

class Abmil {
 public:
  // Declares the parameters "<name>.{reduce,attention_v,attention_u,attention_w,classifier}.*"
  // in `store` (PyTorch's nn.Linear layout).
  Abmil(ParamStore& store, const AbmilConfig& config, const std::string& name = "abmil");

  // instances [N, input_dim], N >= 1: one bag.
  AbmilOutput forward(const Tensor& instances) const;

  const AbmilConfig& config() const { return c_; }

 private:
  AbmilConfig c_;
  Linear reduce_, attention_v_, attention_u_, attention_w_, classifier_;
};

}  // namespace attn
