#include "layers/attention/output_gate.h"

#include "framework/autograd/tape.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/shape.h"
#include "framework/ops/unary.h"

namespace attn {

OutputGate::OutputGate(ParamStore& store, const std::string& name, const AttentionSpec& spec)
    : headwise_(spec.options.gated().granularity() == attnlab::config::Gated::HEADWISE),
      layer_(spec.layer),
      proj_(store, name + ".gate", spec.width, headwise_ ? spec.heads : spec.heads * spec.head_dim,
            false, spec.init_std) {}

Tensor OutputGate::operator()(const Tensor& x, const Tensor& o, AttentionContext& ctx) const {
  const int64_t n = o.size(0), heads = o.size(1), d = o.size(2);
  const Tensor gate = sigmoid(proj_(x));
  if (ctx.diagnostics) {
    NoGrad no_grad;
    ctx.diagnostics->record_layer("gate_mean", layer_, mean(gate).item());
  }
  if (headwise_) return scale_rows(o, reshape(gate, {n, heads}));
  return mul(o, reshape(gate, {n, heads, d}));
}

}  // namespace attn
