// How a batch of documents is packed into one token axis: per-token positions (inside each
// document) and cu_seqlens boundaries. Every layer that mixes tokens reads it from here.
#pragma once

#include "framework/core/tensor.h"

namespace attn {

struct PackedSequences {
  Tensor positions;   // i32 [tokens], position of each token inside its document
  Tensor cu_seqlens;  // i32 [docs + 1], prefix sums of document lengths
};

}  // namespace attn
