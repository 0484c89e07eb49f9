// Deterministic, resumable, rank-aware batches of token rows from token shards.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "recipes/data/batch_stream.h"

namespace attn {

// The row stream. Every epoch orders the documents of all shards by a Philox shuffle keyed by
// (seed, epoch). Packed: the documents are concatenated and cut every seq_len tokens; a document
// cut at a row end continues at the next row (positions restart there, the target of the row's
// last token is still its successor). Unpacked: each row is one seq_len window of one document.
// The last row of an epoch (packed) and the last window of each document (unpacked) are padded:
// token 0, target -100, as a separate piece. Rank r of W takes global rows r, r + W, ...
// With a BOS id (data.bos), packed rows see every document start with BOS (a document cut at a
// row end continues without one), and unpacked windows each start with BOS followed by
// seq_len - 1 document tokens. BOS is never a target.
class TokenLoader final : public BatchStream {
 public:
  TokenLoader(const std::vector<std::string>& shard_paths, int64_t seq_len, int64_t rows,
              uint64_t seed, int rank, int world, bool pack_documents, int32_t bos = -1);

  // Evaluation: documents in file order, one pass; has_next() turns false after the last row.
  // The final batch is filled up with all-padding rows (no targets) so every rank gets `rows`.
  static TokenLoader eval(const std::vector<std::string>& shard_paths, int64_t seq_len,
                          int64_t rows, int rank, int world, bool pack_documents, int32_t bos = -1);

  Batch next() override;
  bool has_next() const override;  // training loaders never run out (epochs wrap)
  void reset();                    // back to epoch 0, row 0

  LoaderState state() const override { return state_; }
  void restore(const LoaderState& state) override;

  uint64_t rows_per_epoch() const { return rows_per_epoch_; }
  uint32_t vocab_size() const { return vocab_size_; }
  size_t num_docs() const { return doc_offsets_.size() - 1; }
  uint64_t num_tokens() const { return tokens_.size(); }

 private:
  struct EpochPlan {
    uint64_t epoch = ~0ull;
    std::vector<uint32_t> order;   // [docs] document ids in row order
    std::vector<uint64_t> prefix;  // [docs + 1] tokens (packed) or windows (unpacked) before
  };
  const EpochPlan& plan(uint64_t epoch);
  // Appends one row (global row `row` of `epoch`) to the batch vectors.
  void fill_row(uint64_t epoch, uint64_t row, std::vector<int32_t>& tokens,
                std::vector<int32_t>& targets, std::vector<int32_t>& positions,
                std::vector<int32_t>& cu);
  void fill_padding(int64_t count, std::vector<int32_t>& tokens, std::vector<int32_t>& targets,
                    std::vector<int32_t>& positions, std::vector<int32_t>& cu) const;
  uint64_t windows(size_t doc) const;
  int64_t window_tokens() const { return bos_ >= 0 ? seq_len_ - 1 : seq_len_; }  // unpacked

  std::vector<int32_t> tokens_;        // all shards' documents, concatenated
  std::vector<uint64_t> doc_offsets_;  // [docs + 1]
  uint32_t vocab_size_ = 0;
  int64_t seq_len_ = 0, rows_ = 0;
  uint64_t seed_ = 0;
  int rank_ = 0, world_ = 1;
  bool pack_ = true, shuffle_ = true;
  int32_t bos_ = -1;
  uint64_t rows_per_epoch_ = 0;
  LoaderState state_;
  EpochPlan plans_[2];  // a batch can straddle an epoch boundary
  int next_slot_ = 0;
};

}  // namespace attn
