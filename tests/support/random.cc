#include "tests/support/random.h"

#include "framework/rng/philox.h"

namespace attn::test {

namespace {
constexpr uint64_t kSeed = 20261122;
}

Tensor random_normal(const Shape& shape, uint64_t stream, DType dtype, double std,
                     bool requires_grad) {
  Tensor t = Tensor::empty(shape, dtype);
  fill_normal(t, kSeed, stream, 0.0, std);
  return t.set_requires_grad(requires_grad);
}

Tensor random_uniform(const Shape& shape, uint64_t stream, double low, double high, DType dtype,
                      bool requires_grad) {
  Tensor t = Tensor::empty(shape, dtype);
  fill_uniform(t, kSeed, stream, low, high);
  return t.set_requires_grad(requires_grad);
}

Tensor random_ids(const Shape& shape, int64_t vocab, uint64_t stream, DType dtype) {
  std::vector<int64_t> ids(shape.numel());
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = static_cast<int64_t>(philox4x32(kSeed, stream, i)[0] % static_cast<uint64_t>(vocab));
  if (dtype == DType::kI64) return Tensor::from_vector<int64_t>(shape, ids);
  return Tensor::from_vector<int32_t>(shape, std::vector<int32_t>(ids.begin(), ids.end()));
}

}  // namespace attn::test
