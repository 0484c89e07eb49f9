#include "layers/losses/aem_mil.h"

#include "framework/core/error.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/shape.h"
#include "framework/ops/softmax.h"

namespace attn {

Tensor pooling_negative_entropy(const Tensor& scores) {
  ATTN_CHECK(
      (scores.ndim() == 1 || (scores.ndim() == 2 && scores.size(0) == 1)) && scores.numel() >= 1,
      "pooling_negative_entropy: scores must be [1, N] or [N], got {}", scores.str());
  const Tensor a = reshape(scores, {1, scores.numel()});
  return sum(mul(softmax(a), log_softmax(a)));
}

}  // namespace attn
