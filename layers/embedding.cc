#include "layers/embedding.h"

#include "framework/ops/embedding.h"

namespace attn {

Embedding::Embedding(ParamStore& store, const std::string& name, int64_t num, int64_t dim,
                     double init_std) {
  weight_ = store.declare(name + ".weight", {num, dim}, ParamInit::normal(init_std), false);
}

Tensor Embedding::operator()(const Tensor& ids) const {
  return embedding(weight_, ids);
}

}  // namespace attn
