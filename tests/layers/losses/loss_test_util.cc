#include "tests/layers/losses/loss_test_util.h"

#include "framework/autograd/tape.h"
#include "framework/core/param_store.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "tests/layers/attention/variant_test_util.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn::test {

::testing::AssertionResult gradcheck_loss_through_layer(
    const attnlab::config::Attention& attention,
    const std::function<std::unique_ptr<AttentionLoss>(const AttentionSpec&)>& make_loss,
    const LossLayerCheck& check) {
  const AttentionSpec spec = small_spec(attention, 4, 2);
  ParamStore store(DType::kF64);
  std::unique_ptr<AttentionLayer> layer = make_attention(store, "attn", spec);
  store.finalize();
  store.initialize(3);
  perturb_constant_params(store);
  const PackedSequences seq = two_documents();
  const std::unique_ptr<AttentionLoss> loss = make_loss(spec);
  const std::vector<const AttentionLoss*> losses{loss.get()};
  Tensor x;
  {
    NoGrad leaf;  // the scaled draw is the leaf
    x = scale(random_normal({8, spec.width}, 4), check.input_scale).set_requires_grad();
  }
  std::vector<Tensor> inputs{x};
  for (const ParamInfo& p : store.params())
    if (p.trainable) inputs.push_back(p.tensor);
  return gradcheck(
      [&](const std::vector<Tensor>& in) {
        std::vector<AttentionLossTerm> terms;
        AttentionContext ctx{seq, local_core_attention()};
        ctx.attention_losses = &losses;
        ctx.attention_loss_terms = &terms;
        Tensor y = layer->forward(in[0], ctx);
        EXPECT_EQ(terms.size(), 1u);
        return add(scale(sum(y), check.output_weight), terms.at(0).value);
      },
      inputs, {.eps = 1e-6, .atol = 1e-8, .rtol = 1e-5});
}

}  // namespace attn::test
