// GATED: softmax attention whose per-head output is multiplied by a query-dependent sigmoid gate
// before the output projection (G1 of the gated-attention paper), elementwise or headwise.
// SPEC-attention section 3; the gate itself is layers/attention/output_gate.h.
#include "layers/attention/output_gate.h"
#include "layers/attention/projected_attention.h"

namespace attn {

namespace {

class GatedAttention final : public ProjectedAttention {
 public:
  GatedAttention(ParamStore& store, const std::string& name, const AttentionSpec& spec)
      : ProjectedAttention(store, name, spec), gate_(store, name, spec) {}

 protected:
  Tensor combine(const Tensor& x, const Heads& h, AttentionContext& ctx) override {
    return gate_(x, h.core.out, ctx);
  }

 private:
  OutputGate gate_;
};

}  // namespace

void register_attention_gated() {
  register_attention(
      attnlab::config::Attention::GATED,
      [](ParamStore& store, const std::string& name, const AttentionSpec& spec) {
        return std::unique_ptr<AttentionLayer>(new GatedAttention(store, name, spec));
      });
}

}  // namespace attn
