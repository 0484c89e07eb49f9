// CUDA matrix products through cuBLASLt with the row-major semantics of cpu::gemm_batched:
// C = alpha * op(A) op(B) + beta * C per batch entry, op(A) [m, k], op(B) [k, n], C [m, n].
#pragma once

#include <cstdint>

namespace attn {

// How a CUDA product treats its f32 inputs (the accumulator and C are f32 in every mode).
//   kF32:  full f32 arithmetic (CUBLAS_COMPUTE_32F); matches the CPU to rounding.
//   kTf32: tensor cores on inputs rounded to tf32 (10-bit mantissa; CUBLAS_COMPUTE_32F_FAST_TF32).
//   kBf16: A and B are bf16 buffers (8-bit mantissa), products exact, f32 accumulation.
enum class MatmulPrecision { kF32, kTf32, kBf16 };

inline const char* matmul_precision_name(MatmulPrecision p) {
  switch (p) {
    case MatmulPrecision::kF32:
      return "f32";
    case MatmulPrecision::kTf32:
      return "tf32";
    case MatmulPrecision::kBf16:
      return "bf16";
  }
  return "?";
}

}  // namespace attn

namespace attn::cuda {

// Device pointers. A, B are float for kF32 / kTf32 and bf16 bit patterns (uint16_t, see
// framework/core/bf16.h) for kBf16; C is always float. A is [m, k] (trans_a: [k, m]), B is
// [k, n] (trans_b: [n, k]), C is [m, n], all row-major and dense. A stride of 0 for A or B
// reuses one matrix for every batch entry; stride_c must not be 0 when batch > 1.
// Deterministic: the algorithm is picked once per (shape, strides, transposes, precision,
// alignment class) and reused, so equal calls give equal bits.
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                  float alpha, const void* a, int64_t stride_a, const void* b, int64_t stride_b,
                  float beta, float* c, int64_t stride_c, MatmulPrecision precision);

}  // namespace attn::cuda
