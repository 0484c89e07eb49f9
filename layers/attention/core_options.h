// The one place that turns a layer's spec and a batch into core-attention options: the batch's
// mask, the model's sliding window and tile sizes, and the statistics the step asks for.
#pragma once

#include "layers/attention/attention_layer.h"
#include "layers/attention/core_attention.h"

namespace attn {

// `diagnose`: request the SPEC-10 map statistics (first-token mass, entropy).
CoreAttentionOptions core_options(const AttentionSpec& spec, const PackedSequences& seq,
                                  bool diagnose);

}  // namespace attn
