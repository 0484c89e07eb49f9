// Every mask becomes, per query token, the interval [lo, hi] of visible keys relative to its
// document's first key, plus (segment masks) a validity flag per key: kernels and the losses that
// materialise probabilities never interpret masks themselves.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/core/tensor.h"
#include "layers/attention/attention_mask.h"

namespace attn {

struct RowIntervals {
  Tensor lo, hi;               // i32 [tokens_q]; lo > hi: the row sees nothing
  std::vector<uint8_t> valid;  // [tokens_k]; empty when every key is valid
};

// cu_q / cu_k: document boundaries of queries and keys (checked by the caller). Throws kInput
// for masks the documents cannot take (causal with more queries than keys, bad segment runs).
RowIntervals row_intervals(const AttentionMask& mask, const std::vector<int32_t>& cu_q,
                           const std::vector<int32_t>& cu_k);

}  // namespace attn
