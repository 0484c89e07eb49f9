// One batch of rows in the exact form the GPT model takes (i32 tokens/targets/positions/
// cu_seqlens of packed documents, and the segment runs of SFT examples), and the loader state
// that resumes a stream of them.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "framework/core/tensor.h"
#include "layers/models/gpt.h"

namespace attn {

inline constexpr int32_t kIgnoreTarget = -100;

// One batch: `rows` rows of seq_len tokens concatenated on one token axis.
struct Batch {
  Tensor tokens;      // i32 [N], N = rows * seq_len
  Tensor targets;     // i32 [N], next token of the same document, -100 where none or padding
  Tensor positions;   // i32 [N], position inside its document piece (restarts at each row)
  Tensor cu_seqlens;  // i32 [pieces + 1], every row start also starts a piece
  int64_t rows = 0, seq_len = 0, target_tokens = 0;  // target_tokens = count(targets != -100)
  // SFT batches under the segment mask (sft_loader.h): the runs, as AttentionMask::segment_ids
  // [N] and segment_kinds [runs]. Undefined: causal documents.
  Tensor segment_ids, segment_kinds;
  // SFT batches, whatever their mask: i32 [N] SegmentKind of each token (PackedSequences::roles).
  Tensor roles;
  // i32 [N], 1 where the token's attention row belongs to the input domain the dormant-head
  // statistic is taken on (Bigram-Backcopy: non-trigger tokens). Undefined: no such domain.
  Tensor diagnostics_domain;
  // Nats the Bayes-optimal predictor of generated data spends on this batch's targets; NaN when
  // the data has no known optimum (every corpus but Bigram-Backcopy).
  double optimal_nats = std::numeric_limits<double>::quiet_NaN();
};

// Everything needed to resume: the epoch and the next global row inside it (the same on all
// ranks, and independent of the world size as long as rows * world stays the same).
struct LoaderState {
  uint64_t epoch = 0;
  uint64_t cursor = 0;
  bool operator==(const LoaderState&) const = default;
};

// A batch of `rows` rows of `seq_len` tokens from the loaders' flat vectors (target_tokens
// counted from the targets).
Batch make_batch(int64_t rows, int64_t seq_len, const std::vector<int32_t>& tokens,
                 const std::vector<int32_t>& targets, const std::vector<int32_t>& positions,
                 const std::vector<int32_t>& cu_seqlens);

// Rows first, first + stride, ... of a batch as a batch of their own (the deterministic
// reduction's sample groups).
Batch select_rows(const Batch& batch, int64_t first, int64_t stride);

// The model input for a batch on `device` (shares the tensors on the CPU); cu_seqlens stays on
// the host (see PackedSequences).
GptInput gpt_input(const Batch& batch, Device device = Device::cpu());

}  // namespace attn
