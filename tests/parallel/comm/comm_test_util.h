// Shared pieces of the communicator tests, which run under mpirun at several world sizes (and
// alone, as a world of one): every rank runs every test, so every test is collective-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/core/tensor.h"
#include "parallel/comm/communicator.h"

namespace attn::test {

// The job's communicator (MpiComm under mpirun, LocalComm alone), set up by comm_test_main.cc.
Communicator& world();

// The deterministic value of element i on rank r: exact in every dtype for the sizes used
// (sums of up to 4 ranks stay below 2^24, f32's exact integer range).
inline double value_at(int r, int64_t i) {
  return r * 10000.0 + static_cast<double>(i);
}

// [n]: value_at(r, base + i) as T.
template <typename T>
Tensor ranked(int r, int64_t n, int64_t base = 0) {
  std::vector<T> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<T>(value_at(r, base + i));
  return Tensor::from_vector<T>({n}, v);
}

// Uneven per-rank counts with zeros on odd ranks: {n, 0, n + 2, 0, ...}; the total rarely
// divides by the world size.
inline std::vector<int64_t> uneven_counts(int64_t n, int world) {
  std::vector<int64_t> c(world);
  for (int r = 0; r < world; ++r) c[r] = r % 2 == 1 ? 0 : n + r;
  return c;
}

// Element counts the tests sweep: empty, one, odd and just under a power of two.
inline const std::vector<int64_t> kSizes = {0, 1, 7, 1023};

}  // namespace attn::test
