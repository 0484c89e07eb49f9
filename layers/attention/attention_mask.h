// Which keys each query of a packed batch may see. A batch carries its mask (PackedSequences);
// core attention reduces it to one visible key interval per row, so kernels never see masks.
#pragma once

#include <cstdint>

#include "framework/core/tensor.h"

namespace attn {

enum class MaskKind {
  kCausal,   // query i of a document sees keys j <= i + (kv_len - q_len): bottom-right aligned
  kFull,     // bidirectional inside the document
  kSegment,  // runs of context/response/padding tokens (focus fine-tuning), see SegmentKind
};

// Kind of a run of tokens under MaskKind::kSegment. A token sees every token of earlier runs;
// inside its own run, all of a context run and the causal prefix of a response run; padding
// sees nothing and is seen by nobody. A document of one response run is causal, one context
// run is bidirectional: segment runs express a different mask for every document of a batch.
enum class SegmentKind : int32_t { kContext = 0, kResponse = 1, kPadding = 2 };

struct AttentionMask {
  MaskKind kind = MaskKind::kCausal;
  int64_t window = 0;    // > 0: a query sees at most `window` keys ending at its last visible one
  Tensor segment_ids;    // kSegment: i32 [tokens], run index of each token, non-decreasing per doc
  Tensor segment_kinds;  // kSegment: i32 [runs], SegmentKind of each run
};

}  // namespace attn
