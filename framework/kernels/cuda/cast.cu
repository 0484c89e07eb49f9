#include "framework/kernels/cuda/cast.h"
#include "framework/kernels/cuda/pointwise.cuh"

namespace attn::cuda {

namespace {

// The bit manipulation of attn::float_to_bf16 rather than __float2bfloat16, so host and device
// agree on every input, NaN payloads included.
__device__ uint16_t float_to_bf16(float f) {
  uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

}  // namespace

void cast_f32_to_bf16(uint16_t* dst, const float* src, int64_t n) {
  launch_pointwise(n, [=] __device__(int64_t i) { dst[i] = float_to_bf16(src[i]); });
}

void cast_bf16_to_f32(float* dst, const uint16_t* src, int64_t n) {
  launch_pointwise(n, [=] __device__(int64_t i) {
    dst[i] = __uint_as_float(static_cast<uint32_t>(src[i]) << 16);
  });
}

}  // namespace attn::cuda
