// How a batch of documents is packed into one token axis: per-token positions (inside each
// document) and cu_seqlens boundaries. Every layer that mixes tokens reads it from here.
#pragma once

#include "framework/core/tensor.h"

namespace attn {

// positions live with the activations (they feed embeddings and RoPE); cu_seqlens is small
// metadata that ops read on the host, so it may stay on the CPU when the model runs on a GPU.
struct PackedSequences {
  Tensor positions;   // i32 [tokens], position of each token inside its document
  Tensor cu_seqlens;  // i32 [docs + 1], prefix sums of document lengths
};

}  // namespace attn
