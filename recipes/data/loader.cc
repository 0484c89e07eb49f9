// TokenLoader: epoch plans (Philox-shuffled document order + prefix sums) give random access to
// any global row, so rank striding, resume and epoch wrap need no hidden iterator state.
#include "recipes/data/loader.h"

#include <algorithm>
#include <numeric>

#include "framework/core/error.h"
#include "framework/rng/philox.h"
#include "recipes/data/token_shard.h"

namespace attn {
namespace {

constexpr uint64_t kShuffleStream = 0x5EED10ADull;  // keeps loader streams apart from init ones

}  // namespace

TokenLoader::TokenLoader(const std::vector<std::string>& shard_paths, int64_t seq_len, int64_t rows,
                         uint64_t seed, int rank, int world, bool pack_documents, int32_t bos)
    : seq_len_(seq_len),
      rows_(rows),
      seed_(seed),
      rank_(rank),
      world_(world),
      pack_(pack_documents),
      bos_(bos) {
  if (shard_paths.empty()) ATTN_FAIL(kConfig, "data loader: no token shards given");
  if (seq_len < 1 || rows < 1)
    ATTN_FAIL(kConfig, "data loader: seq_len {} and rows {} must be >= 1", seq_len, rows);
  if (bos >= 0 && seq_len < 2)
    ATTN_FAIL(kConfig, "data loader: with BOS, seq_len {} leaves no document tokens", seq_len);
  if (world < 1 || rank < 0 || rank >= world)
    ATTN_FAIL(kConfig, "data loader: rank {} outside world {}", rank, world);
  doc_offsets_.push_back(0);
  for (const std::string& path : shard_paths) {
    TokenShard shard = read_token_shard(path);
    if (vocab_size_ != 0 && shard.vocab_size != vocab_size_)
      ATTN_FAIL(kInput, "{}: vocab size {} differs from {} of {}", path, shard.vocab_size,
                vocab_size_, shard_paths.front());
    vocab_size_ = shard.vocab_size;
    for (size_t d = 0; d < shard.num_docs(); ++d) {
      if (shard.doc_length(d) == 0) continue;  // nothing to predict, and no row to fill
      if (bos_ >= 0 && pack_) tokens_.push_back(bos_);
      tokens_.insert(tokens_.end(), shard.tokens.begin() + shard.doc_offsets[d],
                     shard.tokens.begin() + shard.doc_offsets[d + 1]);
      doc_offsets_.push_back(tokens_.size());
    }
  }
  if (tokens_.empty()) ATTN_FAIL(kInput, "{}: the token shards hold no tokens", shard_paths[0]);
  if (pack_) {
    rows_per_epoch_ = (tokens_.size() + seq_len_ - 1) / seq_len_;
  } else {
    for (size_t d = 0; d < num_docs(); ++d) rows_per_epoch_ += windows(d);
  }
}

TokenLoader TokenLoader::eval(const std::vector<std::string>& shard_paths, int64_t seq_len,
                              int64_t rows, int rank, int world, bool pack_documents, int32_t bos) {
  TokenLoader loader(shard_paths, seq_len, rows, 0, rank, world, pack_documents, bos);
  loader.shuffle_ = false;
  return loader;
}

uint64_t TokenLoader::windows(size_t doc) const {
  const uint64_t n = doc_offsets_[doc + 1] - doc_offsets_[doc], w = window_tokens();
  return (n + w - 1) / w;
}

const TokenLoader::EpochPlan& TokenLoader::plan(uint64_t epoch) {
  for (const EpochPlan& p : plans_)
    if (p.epoch == epoch) return p;
  // Alternate the two slots: a batch only needs its current epoch and possibly the next one.
  EpochPlan& p = plans_[next_slot_];
  next_slot_ ^= 1;
  const size_t docs = num_docs();
  p.epoch = epoch;
  p.order.resize(docs);
  std::iota(p.order.begin(), p.order.end(), 0u);
  if (shuffle_) {
    // Fisher-Yates; the modulo bias of 64-bit draws over < 2^32 documents is below 2^-32.
    const uint64_t stream = rng_stream(kShuffleStream, epoch);
    for (size_t i = docs; i-- > 1;) {
      PhiloxBlock r = philox4x32(seed_, stream, i);
      const uint64_t draw = (static_cast<uint64_t>(r[0]) << 32) | r[1];
      std::swap(p.order[i], p.order[draw % (i + 1)]);
    }
  }
  p.prefix.assign(docs + 1, 0);
  for (size_t i = 0; i < docs; ++i) {
    const size_t d = p.order[i];
    p.prefix[i + 1] = p.prefix[i] + (pack_ ? doc_offsets_[d + 1] - doc_offsets_[d] : windows(d));
  }
  return p;
}

void TokenLoader::fill_padding(int64_t count, std::vector<int32_t>& tokens,
                               std::vector<int32_t>& targets, std::vector<int32_t>& positions,
                               std::vector<int32_t>& cu) const {
  if (count <= 0) return;
  for (int64_t i = 0; i < count; ++i) {
    tokens.push_back(0);
    targets.push_back(kIgnoreTarget);
    positions.push_back(static_cast<int32_t>(i));
  }
  cu.push_back(static_cast<int32_t>(tokens.size()));
}

void TokenLoader::fill_row(uint64_t epoch, uint64_t row, std::vector<int32_t>& tokens,
                           std::vector<int32_t>& targets, std::vector<int32_t>& positions,
                           std::vector<int32_t>& cu) {
  const EpochPlan& p = plan(epoch);
  // A piece is tokens [begin, end) of document d; its successor exists while begin < doc end.
  // `first_position` > 0 when a BOS was pushed for the piece already.
  auto emit = [&](size_t d, uint64_t begin, uint64_t end, int64_t first_position = 0) {
    const uint64_t doc_end = doc_offsets_[d + 1];
    for (uint64_t t = begin; t < end; ++t) {
      tokens.push_back(tokens_[t]);
      targets.push_back(t + 1 < doc_end ? tokens_[t + 1] : kIgnoreTarget);
      positions.push_back(static_cast<int32_t>(t - begin + first_position));
    }
    cu.push_back(static_cast<int32_t>(tokens.size()));
  };
  int64_t filled = 0;
  if (pack_) {
    uint64_t at = row * seq_len_;  // offset in this epoch's concatenated stream
    const uint64_t stop = std::min<uint64_t>(at + seq_len_, p.prefix.back());
    size_t i = std::upper_bound(p.prefix.begin(), p.prefix.end(), at) - p.prefix.begin() - 1;
    while (at < stop) {
      const size_t d = p.order[i];
      const uint64_t begin = doc_offsets_[d] + (at - p.prefix[i]);
      const uint64_t take = std::min(stop, p.prefix[i + 1]) - at;
      emit(d, begin, begin + take);
      at += take;
      filled += static_cast<int64_t>(take);
      ++i;
    }
  } else {
    const size_t i = std::upper_bound(p.prefix.begin(), p.prefix.end(), row) - p.prefix.begin() - 1;
    const size_t d = p.order[i];
    const uint64_t w = static_cast<uint64_t>(window_tokens());
    const uint64_t begin = doc_offsets_[d] + (row - p.prefix[i]) * w;
    const uint64_t end = std::min<uint64_t>(begin + w, doc_offsets_[d + 1]);
    if (bos_ >= 0) {  // the window's own BOS, predicting its first token
      tokens.push_back(bos_);
      targets.push_back(tokens_[begin]);
      positions.push_back(0);
    }
    const int64_t shift = bos_ >= 0 ? 1 : 0;
    emit(d, begin, end, shift);
    filled = static_cast<int64_t>(end - begin) + shift;
  }
  fill_padding(seq_len_ - filled, tokens, targets, positions, cu);
}

bool TokenLoader::has_next() const {
  return shuffle_ || state_.epoch == 0;
}

void TokenLoader::reset() {
  state_ = LoaderState{};
}

void TokenLoader::restore(const LoaderState& state) {
  if (state.cursor >= rows_per_epoch_)
    ATTN_FAIL(kInput, "data loader: resume cursor {} is beyond the {} rows of an epoch",
              state.cursor, rows_per_epoch_);
  state_ = state;
}

Batch TokenLoader::next() {
  if (!has_next()) ATTN_FAIL(kInternal, "data loader: next() after the evaluation pass ended");
  const size_t n = static_cast<size_t>(rows_ * seq_len_);
  std::vector<int32_t> tokens, targets, positions, cu{0};
  tokens.reserve(n), targets.reserve(n), positions.reserve(n);
  const uint64_t global_rows = static_cast<uint64_t>(rows_) * world_;
  for (int64_t j = 0; j < rows_; ++j) {
    uint64_t g = state_.cursor + static_cast<uint64_t>(j) * world_ + rank_;
    uint64_t epoch = state_.epoch + g / rows_per_epoch_;
    g %= rows_per_epoch_;
    if (!shuffle_ && epoch > 0)
      fill_padding(seq_len_, tokens, targets, positions, cu);  // evaluation ran out of rows
    else
      fill_row(epoch, g, tokens, targets, positions, cu);
  }
  const uint64_t advanced = state_.cursor + global_rows;
  state_.epoch += advanced / rows_per_epoch_;
  state_.cursor = advanced % rows_per_epoch_;

  return make_batch(rows_, seq_len_, tokens, targets, positions, cu);
}

}  // namespace attn
