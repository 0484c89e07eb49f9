#include "framework/rng/philox.h"

#include <cmath>
#include <numbers>

#include "framework/core/threads.h"

namespace attn {

namespace {
constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;

inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

template <typename T, typename F>
void fill_host(T* p, int64_t n, F&& value_at) {
  parallel_chunks(n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = static_cast<T>(value_at(i));
  });
}

template <typename F>
void fill_any(Tensor& t, F&& value_at) {
  ATTN_CHECK(t.dtype() == DType::kF32 || t.dtype() == DType::kF64, "RNG fill of {}", t.str());
  Tensor host = t.device().is_cpu() ? t : Tensor::empty(t.shape(), t.dtype());
  if (host.dtype() == DType::kF32)
    fill_host(host.data<float>(), host.numel(), value_at);
  else
    fill_host(host.data<double>(), host.numel(), value_at);
  if (!t.device().is_cpu()) t.copy_from(host);
}
}  // namespace

PhiloxBlock philox4x32(uint64_t seed, uint64_t stream, uint64_t counter) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kMul0, c0, hi0, lo0);
    mulhilo(kMul1, c2, hi1, lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += kWeyl0, k1 += kWeyl1;
  }
  return {c0, c1, c2, c3};
}

void fill_normal(Tensor& t, uint64_t seed, uint64_t stream, double mean, double std) {
  fill_any(t, [=](int64_t i) {
    PhiloxBlock r = philox4x32(seed, stream, static_cast<uint64_t>(i) / 2);
    int pair = static_cast<int>(i % 2);
    // Box-Muller on words (2*pair, 2*pair+1): each element uses its own pair of words.
    double radius = std::sqrt(-2.0 * std::log(uint_to_unit(r[2 * pair])));
    double theta = 2.0 * std::numbers::pi * uint_to_unit(r[2 * pair + 1]);
    return mean + std * radius * std::cos(theta);
  });
}

void fill_uniform(Tensor& t, uint64_t seed, uint64_t stream, double low, double high) {
  fill_any(t, [=](int64_t i) {
    PhiloxBlock r = philox4x32(seed, stream, static_cast<uint64_t>(i) / 4);
    return low + (high - low) * (uint_to_unit(r[i % 4]) - 0x1p-33);
  });
}

uint64_t rng_stream(uint64_t a, uint64_t b, uint64_t c) {
  // splitmix64 finaliser over the combined keys: cheap, well mixed, stable across platforms.
  auto mix = [](uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  return mix(mix(mix(a) ^ b) ^ c);
}

}  // namespace attn
