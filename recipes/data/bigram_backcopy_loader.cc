#include "recipes/data/bigram_backcopy_loader.h"

#include <algorithm>

#include "framework/core/error.h"

namespace attn {

BigramBackcopyLoader::BigramBackcopyLoader(std::shared_ptr<const BigramBackcopy> task,
                                           int64_t seq_len, int64_t rows, int rank, int world)
    : task_(std::move(task)), seq_len_(seq_len), rows_(rows), rank_(rank), world_(world) {
  if (seq_len < 1 || rows < 1)
    ATTN_FAIL(kConfig, "bigram-backcopy loader: seq_len {} and rows {} must be >= 1", seq_len,
              rows);
  if (world < 1 || rank < 0 || rank >= world)
    ATTN_FAIL(kConfig, "bigram-backcopy loader: rank {} outside world {}", rank, world);
}

BigramBackcopyLoader BigramBackcopyLoader::eval(std::shared_ptr<const BigramBackcopy> task,
                                                int64_t seq_len, int64_t rows, int rank, int world,
                                                int64_t sequences) {
  BigramBackcopyLoader l(std::move(task), seq_len, rows, rank, world);
  l.split_ = BbSplit::kVal;
  l.eval_sequences_ = sequences;
  return l;
}

bool BigramBackcopyLoader::has_next() const {
  return split_ == BbSplit::kTrain || state_.cursor < static_cast<uint64_t>(eval_sequences_);
}

void BigramBackcopyLoader::restore(const LoaderState& state) {
  if (state.epoch != 0)
    ATTN_FAIL(kInput, "bigram-backcopy loader: resume state names epoch {}, the stream has one",
              state.epoch);
  state_ = state;
}

Batch BigramBackcopyLoader::next() {
  if (!has_next()) ATTN_FAIL(kInternal, "bigram-backcopy loader: next() after the pass ended");
  const int64_t n = rows_ * seq_len_;
  std::vector<int32_t> tokens, targets, positions, cu{0}, domain;
  tokens.reserve(n), targets.reserve(n), positions.reserve(n), domain.reserve(n);
  double optimal_nats = 0;
  for (int64_t j = 0; j < rows_; ++j) {
    const uint64_t g = state_.cursor + static_cast<uint64_t>(j * world_ + rank_);
    const bool padding = split_ == BbSplit::kVal && g >= static_cast<uint64_t>(eval_sequences_);
    const std::vector<int32_t> s =
        padding ? std::vector<int32_t>() : task_->sequence(split_, g, seq_len_);
    for (int64_t t = 0; t < seq_len_; ++t) {
      tokens.push_back(padding ? 0 : s[t]);
      targets.push_back(padding ? kIgnoreTarget : s[t + 1]);
      positions.push_back(static_cast<int32_t>(t));
      domain.push_back(!padding && !task_->is_trigger(s[t]));
    }
    if (!padding) optimal_nats += task_->optimal_nats(s);
    cu.push_back(static_cast<int32_t>(tokens.size()));
  }
  state_.cursor += static_cast<uint64_t>(rows_ * world_);
  Batch b = make_batch(rows_, seq_len_, tokens, targets, positions, cu);
  b.optimal_nats = optimal_nats;
  b.diagnostics_domain = Tensor::from_vector<int32_t>({n}, domain);
  return b;
}

}  // namespace attn
