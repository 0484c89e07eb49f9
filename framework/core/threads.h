// One OpenMP thread pool shared by our kernels and OpenBLAS (its OpenMP build), plus the fixed
// chunking that makes every reduction bit-identical for any thread count.
#pragma once

#include <algorithm>
#include <cstdint>

#include <omp.h>

namespace attn {

int num_threads();
// Sets the pool size for our kernels and for BLAS (never oversubscribes: one pool).
void set_num_threads(int n);

// Flushes subnormal floats to zero (inputs and results) on every pool thread: long runs can
// drive values (Adam moments, vanishing gradients) into the subnormal range, where x86
// arithmetic is up to ~100x slower. Deterministic; changes results only below 1.2e-38 in f32.
void flush_denormals();

// Runs f(begin, end) over [0, n) in chunks of `grain` elements, in parallel. Chunk boundaries
// depend only on n and grain, never on the thread count, so code that writes one result per
// chunk and combines them in chunk order is deterministic. f must not throw.
template <typename F>
void parallel_chunks(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (n + grain - 1) / grain;
  if (chunks == 1 || omp_in_parallel() || omp_get_max_threads() == 1) {
    for (int64_t c = 0; c < chunks; ++c) f(c * grain, std::min(n, (c + 1) * grain));
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) f(c * grain, std::min(n, (c + 1) * grain));
}

// Runs f(i) for i in [0, n) as independent tasks of uneven cost, scheduled dynamically. Only for
// tasks that write disjoint outputs: the schedule then cannot change any result.
template <typename F>
void parallel_tasks(int64_t n, F&& f) {
  if (n <= 0) return;
  if (n == 1 || omp_in_parallel() || omp_get_max_threads() == 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) f(i);
}

// Grain for row-wise kernels: about `target` elements of work per chunk.
inline int64_t rows_per_chunk(int64_t cols, int64_t target = 16384) {
  return std::max<int64_t>(1, target / std::max<int64_t>(cols, 1));
}

}  // namespace attn
