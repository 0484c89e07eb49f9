// f32 <-> bf16 conversion of device buffers, bit-identical to framework/core/bf16.h:
// round to nearest even, NaN stays a (quiet) NaN, overflow rounds to infinity.
#pragma once

#include <cstdint>

namespace attn::cuda {

// dst[i] = bf16(src[i]) as raw 16-bit patterns; n elements, device pointers.
void cast_f32_to_bf16(uint16_t* dst, const float* src, int64_t n);
// dst[i] = float(src[i]); exact.
void cast_bf16_to_f32(float* dst, const uint16_t* src, int64_t n);

}  // namespace attn::cuda
