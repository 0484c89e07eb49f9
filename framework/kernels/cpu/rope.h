// Rotary position embedding on [tokens, heads, dim] with per-token positions (packed documents
// restart at 0). Pair i rotates by pos * base^(-2i/dim); pairing `half` = (i, i + dim/2) as in
// Llama/HF checkpoints, `interleaved` = (2i, 2i+1) as in the original paper.
#pragma once

#include <cstdint>

#include "framework/kernels/kinds.h"

namespace attn::cpu {

// out (= or +=) R(pos) x, or R(pos)^T x when `inverse` (the backward of a rotation is the
// inverse rotation). out may alias x when not accumulating.
template <typename T>
void rope_rotate(T* out, const T* x, const int32_t* pos, int64_t tokens, int64_t heads, int64_t dim,
                 double base, RopePairing pairing, bool inverse, bool accumulate);

}  // namespace attn::cpu
