// SOFTMAX: standard multi-head attention with grouped key/value heads (MHA, GQA, MQA) and the
// shared options (QK-RMSNorm, RoPE, sliding window). SPEC-attention section 1.
#include "layers/attention/projected_attention.h"

namespace attn {

namespace {

class SoftmaxAttention final : public ProjectedAttention {
 public:
  SoftmaxAttention(ParamStore& store, const std::string& name, const AttentionSpec& spec)
      : ProjectedAttention(store, name, spec) {}
};

}  // namespace

void register_attention_softmax() {
  auto make = [](ParamStore& store, const std::string& name, const AttentionSpec& spec) {
    return std::unique_ptr<AttentionLayer>(new SoftmaxAttention(store, name, spec));
  };
  register_attention(attnlab::config::Attention::SOFTMAX, make);
  register_attention(attnlab::config::Attention::KIND_UNSPECIFIED, make);
}

}  // namespace attn
