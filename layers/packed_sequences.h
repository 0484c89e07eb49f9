// How a batch of documents is packed into one token axis: per-token positions (inside each
// document), cu_seqlens boundaries, the attention mask and the per-token loss weights. Every
// layer that mixes tokens reads them from here; none invents its own mask.
#pragma once

#include <vector>

#include "framework/core/tensor.h"
#include "layers/attention/attention_mask.h"

namespace attn {

// positions live with the activations (they feed embeddings and RoPE); cu_seqlens is small
// metadata that ops read on the host, so it may stay on the CPU when the model runs on a GPU.
struct PackedSequences {
  Tensor positions;   // i32 [tokens], position of each token inside its document
  Tensor cu_seqlens;  // i32 [docs + 1], prefix sums of document lengths
  // Causal inside each document unless the data says otherwise (SFT segment runs, bidirectional
  // prefixes). Its window must stay 0: the sliding window is the model's (attention.window).
  AttentionMask mask;
  // f32 [tokens] weight of each token's loss (response-only SFT loss: 0 on context tokens);
  // undefined = every token with a target counts.
  Tensor loss_weights;
  // i32 [tokens] SegmentKind of each token of SFT examples, whatever the mask (on the host):
  // which queries are response tokens and which keys context, for the focus diagnostics.
  // Undefined for plain documents.
  Tensor roles;
};

// cu_seqlens checked against `tokens` (starts at 0, never decreases, ends at tokens; kInternal
// naming `op` otherwise), on the host and on `device` for kernels that read it there.
struct DocumentBounds {
  std::vector<int32_t> host;
  Tensor on_device;  // i32 [docs + 1]
  int64_t docs() const { return static_cast<int64_t>(host.size()) - 1; }
};
DocumentBounds document_bounds(const Tensor& cu_seqlens, int64_t tokens, Device device,
                               const char* op);

}  // namespace attn
