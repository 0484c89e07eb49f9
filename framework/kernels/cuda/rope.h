// CUDA rotary position embedding (f32) on [tokens, heads, dim] with per-token positions,
// mirroring framework/kernels/cpu/rope.h (same pairings, angles in double). Device pointers.
#pragma once

#include <cstdint>

#include "framework/kernels/kinds.h"

namespace attn::cuda {

// out (= or +=) R(pos) x, or R(pos)^T x when `inverse`. out may alias x when not accumulating.
// pos [tokens] (i32, on the device).
void rope_rotate(float* out, const float* x, const int32_t* pos, int64_t tokens, int64_t heads,
                 int64_t dim, double base, RopePairing pairing, bool inverse, bool accumulate);

}  // namespace attn::cuda
