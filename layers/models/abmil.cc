#include "layers/models/abmil.h"

#include "framework/core/error.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/matmul.h"
#include "framework/ops/shape.h"
#include "framework/ops/softmax.h"
#include "framework/ops/unary.h"

namespace attn {

namespace {

const AbmilConfig& checked(const AbmilConfig& c) {
  ATTN_CHECK(c.input_dim > 0 && c.hidden > 0 && c.attention_dim > 0 && c.classes >= 2,
             "abmil: input_dim {}, hidden {}, attention_dim {} must be positive and classes {} "
             ">= 2",
             c.input_dim, c.hidden, c.attention_dim, c.classes);
  return c;
}

}  // namespace

Abmil::Abmil(ParamStore& store, const AbmilConfig& config, const std::string& name)
    : c_(checked(config)),
      reduce_(store, name + ".reduce", c_.input_dim, c_.hidden, false, c_.init_std),
      attention_v_(store, name + ".attention_v", c_.hidden, c_.attention_dim, true, c_.init_std),
      attention_u_(store, name + ".attention_u", c_.hidden, c_.attention_dim, true, c_.init_std),
      attention_w_(store, name + ".attention_w", c_.attention_dim, 1, true, c_.init_std),
      classifier_(store, name + ".classifier", c_.hidden, c_.classes, true, c_.init_std) {}

AbmilOutput Abmil::forward(const Tensor& instances) const {
  ATTN_CHECK(instances.ndim() == 2 && instances.size(0) >= 1 && instances.size(1) == c_.input_dim,
             "abmil: a bag must be [instances >= 1, {}], got {}", c_.input_dim, instances.str());
  const int64_t n = instances.size(0);
  const Tensor h = relu(reduce_(instances));  // [N, L]
  const Tensor gated = mul(tanh(attention_v_(h)), sigmoid(attention_u_(h)));
  AbmilOutput out;
  out.scores = reshape(attention_w_(gated), {1, n});
  out.weights = softmax(out.scores);
  out.logits = classifier_(matmul(out.weights, h));  // z = p h: [1, L]
  return out;
}

}  // namespace attn
