#include "layers/attention/token_aware_pooling.h"

#include <vector>

#include "framework/ops/elementwise.h"
#include "framework/ops/shape.h"
#include "framework/ops/softmax.h"
#include "layers/ops/document_shift.h"

namespace attn {

namespace {

// [x_t, x_{t-1}, x_{t-2}] per row: the input of a causal 3-tap convolution as one product.
Tensor causal_taps(const Tensor& x, const Tensor& cu) {
  return concat({x, document_shift(x, cu, 1), document_shift(x, cu, 2)}, 1);
}

}  // namespace

TokenAwarePooling::TokenAwarePooling(ParamStore& store, const std::string& name, int64_t width,
                                     double init_std)
    : conv1_(store, name + ".conv1", 3 * width, kScales, true, init_std),
      conv2_(store, name + ".conv2", 3 * kScales, kScales, false, init_std) {}

Tensor TokenAwarePooling::operator()(const Tensor& x, const Tensor& cu_seqlens) const {
  const int64_t n = x.size(0);
  const Tensor w = softmax(conv2_(causal_taps(conv1_(causal_taps(x, cu_seqlens)), cu_seqlens)));
  const std::vector<Tensor> weights = split(w, 1, std::vector<int64_t>(kScales, 1));
  Tensor y = scale_rows(x, reshape(weights[0], {n}));
  for (int64_t d = 1; d < kScales; ++d) {
    const Tensor pool =
        scale(add(add(x, document_shift(x, cu_seqlens, d)), document_shift(x, cu_seqlens, 2 * d)),
              1.0 / 3.0);
    y = add(y, scale_rows(pool, reshape(weights[d], {n})));
  }
  return y;
}

}  // namespace attn
