#include "layers/attention/row_intervals.h"

#include <algorithm>

#include "framework/core/error.h"

namespace attn {

RowIntervals row_intervals(const AttentionMask& mask, const std::vector<int32_t>& cu_q,
                           const std::vector<int32_t>& cu_k) {
  const int64_t docs = static_cast<int64_t>(cu_q.size()) - 1, tq = cu_q.back();
  ATTN_CHECK(mask.window >= 0, "core_attention: window must be >= 0, got {}", mask.window);
  std::vector<int32_t> lo(tq, 0), hi(tq, -1);
  std::vector<uint8_t> valid;
  std::vector<int32_t> seg, kinds;
  if (mask.kind == MaskKind::kSegment) {
    ATTN_CHECK(mask.segment_ids.defined() && mask.segment_ids.dtype() == DType::kI32 &&
                   mask.segment_ids.numel() == tq,
               "core_attention: segment mask needs i32 segment_ids [{}]", tq);
    ATTN_CHECK(mask.segment_kinds.defined() && mask.segment_kinds.dtype() == DType::kI32,
               "core_attention: segment mask needs i32 segment_kinds [runs]");
    seg = mask.segment_ids.to_vector<int32_t>();
    kinds = mask.segment_kinds.to_vector<int32_t>();
    valid.assign(tq, 1);
  }
  for (int64_t b = 0; b < docs; ++b) {
    const int64_t q0 = cu_q[b], qlen = cu_q[b + 1] - q0, klen = cu_k[b + 1] - cu_k[b];
    const int64_t offset = klen - qlen;  // bottom-right alignment of the queries
    if (mask.kind == MaskKind::kCausal && offset < 0)
      ATTN_FAIL(kInput,
                "core_attention: document {} has {} queries but only {} keys (causal "
                "needs q_len <= kv_len)",
                b, qlen, klen);
    if (mask.kind == MaskKind::kSegment && offset != 0)
      ATTN_FAIL(kInput,
                "core_attention: segment masks need q_len == kv_len, document {} has {} "
                "and {}",
                b, qlen, klen);
    int64_t run_end = -1;  // last position of the current run, found scanning backwards
    for (int64_t i = qlen - 1; i >= 0; --i) {
      const int64_t t = q0 + i;
      int64_t h = klen - 1;
      if (mask.kind == MaskKind::kCausal) h = i + offset;
      if (mask.kind == MaskKind::kSegment) {
        const int32_t run = seg[t];
        if (run < 0 || run >= static_cast<int64_t>(kinds.size()))
          ATTN_FAIL(kInput, "core_attention: segment id {} at token {} is outside [0, {})", run, t,
                    kinds.size());
        if (i + 1 < qlen && seg[t + 1] < run)
          ATTN_FAIL(kInput, "core_attention: segment ids decrease at token {} ({} after {})", t + 1,
                    seg[t + 1], run);
        if (i + 1 == qlen || seg[t + 1] != run) run_end = i;
        const int32_t kind = kinds[run];
        if (kind < 0 || kind > static_cast<int32_t>(SegmentKind::kPadding))
          ATTN_FAIL(kInput,
                    "core_attention: segment kind {} of run {} is not context (0), "
                    "response (1) or padding (2)",
                    kind, run);
        const auto k = static_cast<SegmentKind>(kind);
        valid[t] = k != SegmentKind::kPadding;
        h = k == SegmentKind::kPadding ? -1 : k == SegmentKind::kContext ? run_end : i;
      }
      hi[t] = static_cast<int32_t>(h);
      lo[t] = mask.window > 0 ? static_cast<int32_t>(std::max<int64_t>(0, h - mask.window + 1)) : 0;
    }
  }
  RowIntervals r;
  r.lo = Tensor::from_vector<int32_t>({tq}, lo);
  r.hi = Tensor::from_vector<int32_t>({tq}, hi);
  r.valid = std::move(valid);
  return r;
}

}  // namespace attn
