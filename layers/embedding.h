// Token (or position) embedding table: ids -> rows of a [num, dim] parameter.
// Embeddings are excluded from weight decay by default, as is common for language models.
#pragma once

#include <string>

#include "framework/core/param_store.h"

namespace attn {

class Embedding {
 public:
  Embedding(ParamStore& store, const std::string& name, int64_t num, int64_t dim,
            double init_std = 0.02);
  // ids i32/i64 [...] -> [..., dim]
  Tensor operator()(const Tensor& ids) const;
  const Tensor& weight() const { return weight_; }

 private:
  Tensor weight_;  // [num, dim]
};

}  // namespace attn
