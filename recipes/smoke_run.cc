#include "recipes/smoke_run.h"

#include "framework/autograd/tape.h"
#include "framework/core/param_store.h"
#include "framework/ops/cross_entropy.h"
#include "framework/ops/embedding.h"
#include "framework/ops/norm.h"
#include "framework/ops/unary.h"
#include "framework/rng/philox.h"
#include "layers/linear.h"
#include "optim/sgd.h"

namespace attn {

SmokeRunResult run_smoke(const SmokeRunOptions& o,
                         const std::function<void(int, double)>& on_step) {
  ParamStore store;
  Tensor table = store.declare("embed.weight", {o.vocab, o.width}, ParamInit::normal(0.5), false);
  Linear hidden(store, "mlp.fc", o.width, 4 * o.width, true, 0.1);
  Tensor norm_w = store.declare("mlp.norm.weight", {4 * o.width}, ParamInit::ones(), false);
  Tensor norm_b = store.declare("mlp.norm.bias", {4 * o.width}, ParamInit::zeros(), false);
  Linear head(store, "head", 4 * o.width, o.vocab, true, 0.1);
  store.finalize();
  store.initialize(o.seed);
  Sgd sgd(store, {o.lr, 0.9, 0.0});

  SmokeRunResult result;
  for (int step = 0; step < o.steps; ++step) {
    // Inputs depend only on (seed, step): the run is reproducible for any thread count.
    std::vector<int32_t> in(o.batch), target(o.batch);
    for (int64_t i = 0; i < o.batch; ++i) {
      in[i] = static_cast<int32_t>(philox4x32(o.seed, rng_stream(step), i)[0] % o.vocab);
      target[i] = static_cast<int32_t>((5 * in[i] + 3) % o.vocab);
    }
    Tensor x = embedding(table, Tensor::from_vector<int32_t>({o.batch}, in));
    Tensor h = layer_norm(gelu(hidden(x)), norm_w, norm_b);
    Tensor loss = cross_entropy(head(h), Tensor::from_vector<int32_t>({o.batch}, target));
    store.zero_grad();
    backward(loss);
    sgd.step();
    double l = loss.item();
    if (step == 0) result.first_loss = l;
    result.final_loss = l;
    if (on_step) on_step(step, l);
  }
  return result;
}

}  // namespace attn
