#include "framework/core/threads.h"

#include <cblas.h>
#include <xmmintrin.h>

namespace attn {

int num_threads() {
  return omp_get_max_threads();
}

void set_num_threads(int n) {
  n = std::max(1, n);
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

void flush_denormals() {
  // FTZ (bit 15) and DAZ (bit 6) of MXCSR. Threads created later inherit the creating thread's
  // floating-point environment; threads already in the pool are set by the parallel region.
  constexpr unsigned kFtzDaz = 0x8040;
  _mm_setcsr(_mm_getcsr() | kFtzDaz);
#pragma omp parallel
  _mm_setcsr(_mm_getcsr() | kFtzDaz);
}

}  // namespace attn
