// Where SFT response tokens look (SPEC-attention section 9): sink mass, the attention of response
// queries on position 0, and context engagement, their attention on the other context tokens.
// Both come from fused statistics of the core op (first-token mass, and the key mass with the
// response queries as row weights), never from a T x T buffer.
#pragma once

#include "layers/attention/attention_diagnostics.h"
#include "layers/attention/core_attention.h"
#include "layers/packed_sequences.h"

namespace attn {

// Adds the statistics the focus needs to `o` when the batch holds SFT rows (seq.roles defined);
// `q` [tokens, heads, d] gives the row weights' shape, type and device.
void request_response_focus(const PackedSequences& seq, const Tensor& q, CoreAttentionOptions& o);

// Sums the layer's focus into `d` (a no-op for batches without roles or without response
// queries).
void record_response_focus(int layer, const PackedSequences& seq, const AttentionStats& st,
                           AttentionDiagnostics& d);

}  // namespace attn
