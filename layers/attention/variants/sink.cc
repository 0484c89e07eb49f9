// SINK: softmax attention with one extra key column per head whose logit z_h is learned (gpt-oss)
// or fixed at 0 (off-by-one / softmax1); the column carries no value. SPEC-attention section 2.
// The core op folds the sink into its row log-sum-exp, so this variant only owns z.
#include "layers/attention/projected_attention.h"

namespace attn {

namespace {

class SinkAttention final : public ProjectedAttention {
 public:
  // Parameter: <name>.sink [heads] (learnable mode), initialised to 0.
  SinkAttention(ParamStore& store, const std::string& name, const AttentionSpec& spec)
      : ProjectedAttention(store, name, spec) {
    if (spec.options.sink().mode() == attnlab::config::Sink::OFF_BY_ONE)
      sink_ = Tensor::zeros({spec.heads}, store.dtype(), store.device());
    else
      sink_ = store.declare(name + ".sink", {spec.heads}, ParamInit::zeros(), false);
  }

 protected:
  Tensor sink() const override { return sink_; }

 private:
  Tensor sink_;
};

}  // namespace

void register_attention_sink() {
  register_attention(attnlab::config::Attention::SINK,
                     [](ParamStore& store, const std::string& name, const AttentionSpec& spec) {
                       return std::unique_ptr<AttentionLayer>(new SinkAttention(store, name, spec));
                     });
}

}  // namespace attn
