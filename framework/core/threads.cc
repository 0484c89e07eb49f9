#include "framework/core/threads.h"

#include <cblas.h>

namespace attn {

int num_threads() {
  return omp_get_max_threads();
}

void set_num_threads(int n) {
  n = std::max(1, n);
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

}  // namespace attn
