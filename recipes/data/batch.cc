#include "recipes/data/batch.h"

#include <algorithm>
#include <vector>

#include "framework/core/error.h"

namespace attn {

GptInput gpt_input(const Batch& batch, Device device) {
  GptInput in;
  in.tokens = batch.tokens.to(device);
  in.targets = batch.targets.to(device);
  in.seq.positions = batch.positions.to(device);
  in.seq.cu_seqlens = batch.cu_seqlens;
  if (batch.segment_ids.defined()) {
    in.seq.mask.kind = MaskKind::kSegment;
    in.seq.mask.segment_ids = batch.segment_ids;
    in.seq.mask.segment_kinds = batch.segment_kinds;
  }
  in.seq.roles = batch.roles;
  return in;
}

Batch make_batch(int64_t rows, int64_t seq_len, const std::vector<int32_t>& tokens,
                 const std::vector<int32_t>& targets, const std::vector<int32_t>& positions,
                 const std::vector<int32_t>& cu) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  ATTN_CHECK(n == rows * seq_len && targets.size() == tokens.size() &&
                 positions.size() == tokens.size() && !cu.empty() && cu.back() == n,
             "make_batch: {} rows of {} tokens, got {} tokens, {} targets, {} positions, "
             "cu_seqlens ending at {}",
             rows, seq_len, n, targets.size(), positions.size(), cu.empty() ? -1 : cu.back());
  Batch b;
  b.rows = rows;
  b.seq_len = seq_len;
  b.target_tokens =
      std::count_if(targets.begin(), targets.end(), [](int32_t t) { return t != kIgnoreTarget; });
  b.tokens = Tensor::from_vector<int32_t>({n}, tokens);
  b.targets = Tensor::from_vector<int32_t>({n}, targets);
  b.positions = Tensor::from_vector<int32_t>({n}, positions);
  b.cu_seqlens = Tensor::from_vector<int32_t>({static_cast<int64_t>(cu.size())}, cu);
  return b;
}

Batch select_rows(const Batch& batch, int64_t first, int64_t stride) {
  ATTN_CHECK(first >= 0 && stride >= 1 && first < std::max<int64_t>(batch.rows, 1),
             "select_rows: row {} step {} of {} rows", first, stride, batch.rows);
  ATTN_CHECK(!batch.segment_ids.defined() && !batch.roles.defined(),
             "select_rows: batches with a segment mask are not "
             "split into reduction groups yet");
  const int64_t T = batch.seq_len;
  const int32_t* tok = batch.tokens.data<int32_t>();
  const int32_t* tgt = batch.targets.data<int32_t>();
  const int32_t* pos = batch.positions.data<int32_t>();
  const int32_t* cu = batch.cu_seqlens.data<int32_t>();
  const int64_t pieces = batch.cu_seqlens.numel() - 1;
  std::vector<int32_t> tokens, targets, positions, out_cu{0};
  int64_t piece = 0;
  for (int64_t r = first; r < batch.rows; r += stride) {
    const int64_t begin = r * T, end = begin + T;
    tokens.insert(tokens.end(), tok + begin, tok + end);
    targets.insert(targets.end(), tgt + begin, tgt + end);
    positions.insert(positions.end(), pos + begin, pos + end);
    // Every row start starts a piece, so the row's pieces are whole and only shift.
    while (piece < pieces && cu[piece] < begin) ++piece;
    const int32_t shift = static_cast<int32_t>(begin) - out_cu.back();
    for (; piece < pieces && cu[piece + 1] <= end; ++piece) out_cu.push_back(cu[piece + 1] - shift);
  }
  return make_batch(static_cast<int64_t>(tokens.size()) / std::max<int64_t>(T, 1), T, tokens,
                    targets, positions, out_cu);
}

}  // namespace attn
