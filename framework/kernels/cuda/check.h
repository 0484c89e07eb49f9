// CUDA_CHECK(expr): throws attn::Error naming the failed CUDA call, its error string and
// the source line. Every runtime call in the CUDA backend goes through it.
#pragma once

#include <cuda_runtime.h>

#include "framework/core/error.h"

#define CUDA_CHECK(expr)                                                                \
  do {                                                                                  \
    cudaError_t err_ = (expr);                                                          \
    if (err_ != cudaSuccess)                                                            \
      ATTN_FAIL(kInternal, "CUDA call {} failed: {}", #expr, cudaGetErrorString(err_)); \
  } while (0)
