// Deterministic random tensors for tests (Philox-based, so identical on every machine).
// Each call names its own stream so tests do not depend on call order.
#pragma once

#include "framework/core/tensor.h"

namespace attn::test {

Tensor random_normal(const Shape& shape, uint64_t stream, DType dtype = DType::kF64,
                     double std = 1.0, bool requires_grad = true);
Tensor random_uniform(const Shape& shape, uint64_t stream, double low, double high,
                      DType dtype = DType::kF64, bool requires_grad = true);
// Integer ids uniform in [0, vocab), as i32 (or i64).
Tensor random_ids(const Shape& shape, int64_t vocab, uint64_t stream, DType dtype = DType::kI32);

}  // namespace attn::test
