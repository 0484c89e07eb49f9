// Philox4x32-10 counter-based RNG: the numbers depend only on (seed, stream, counter), so every
// element of a tensor gets the same value on CPU and GPU, for any thread count, and after resume.
#pragma once

#include <array>
#include <cstdint>

#include "framework/core/tensor.h"

namespace attn {

using PhiloxBlock = std::array<uint32_t, 4>;

// Ten Philox rounds on counter (counter, stream) with key `seed`. Pure function; usable from
// host and (as the same arithmetic) device code.
PhiloxBlock philox4x32(uint64_t seed, uint64_t stream, uint64_t counter);

// Uniform in (0, 1], from one 32-bit word (never 0, so log() is safe in Box-Muller).
inline double uint_to_unit(uint32_t x) {
  return (static_cast<double>(x) + 1.0) * 0x1p-32;
}

// Fill a float tensor: element i uses counter i / 2 (normal) or i / 4 (uniform) of the stream.
void fill_normal(Tensor& t, uint64_t seed, uint64_t stream, double mean, double std);
void fill_uniform(Tensor& t, uint64_t seed, uint64_t stream, double low, double high);

// Streams are derived from independent keys (step, rank, tensor id) by hashing them together.
uint64_t rng_stream(uint64_t a, uint64_t b = 0, uint64_t c = 0);

}  // namespace attn
