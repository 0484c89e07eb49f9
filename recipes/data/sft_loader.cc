#include "recipes/data/sft_loader.h"

#include <fmt/format.h>

#include <numeric>

#include "framework/core/error.h"
#include "framework/rng/philox.h"

namespace attn {

namespace {

constexpr uint64_t kSftShuffleStream = 0x534654;  // "SFT"

}  // namespace

std::vector<TokenizedExample> tokenize_examples(const std::vector<SftExample>& examples,
                                                const Tokenizer& tokenizer, int64_t seq_len,
                                                const std::string& source) {
  std::vector<TokenizedExample> out;
  out.reserve(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    const SftExample& e = examples[i];
    const std::string where = e.where.empty() ? fmt::format("{} example {}", source, i) : e.where;
    TokenizedExample t;
    bool response = false;
    for (const SftRun& r : e.runs) {
      const std::vector<int32_t> ids = tokenizer.encode(r.text);
      const SegmentKind kind =
          r.role == RunRole::kResponse ? SegmentKind::kResponse : SegmentKind::kContext;
      t.tokens.insert(t.tokens.end(), ids.begin(), ids.end());
      t.kinds.insert(t.kinds.end(), ids.size(), kind);
      response |= kind == SegmentKind::kResponse && !ids.empty();
    }
    if (static_cast<int64_t>(t.tokens.size()) > seq_len)
      throw Error(ErrorKind::kInput, where,
                  fmt::format("example of {} tokens does not fit model.seq_len {}", t.tokens.size(),
                              seq_len));
    if (!response) throw Error(ErrorKind::kInput, where, "no response text: nothing to learn");
    out.push_back(std::move(t));
  }
  return out;
}

SftLoader::SftLoader(std::vector<TokenizedExample> examples, int64_t seq_len, int64_t rows,
                     uint64_t seed, int rank, int world, SftRows how)
    : examples_(std::move(examples)),
      seq_len_(seq_len),
      rows_(rows),
      seed_(seed),
      rank_(rank),
      world_(world),
      how_(how) {
  ATTN_CHECK(
      !examples_.empty() && seq_len > 0 && rows > 0 && world > 0 && rank >= 0 && rank < world,
      "SftLoader: {} examples, seq_len {}, rows {}, rank {} of {}", examples_.size(), seq_len, rows,
      rank, world);
}

SftLoader SftLoader::eval(std::vector<TokenizedExample> examples, int64_t seq_len, int64_t rows,
                          int rank, int world, SftRows how) {
  SftLoader loader(std::move(examples), seq_len, rows, 0, rank, world, how);
  loader.shuffle_ = false;
  return loader;
}

const std::vector<uint32_t>& SftLoader::order(uint64_t epoch) {
  if (order_epoch_ == epoch) return order_;
  order_.resize(examples_.size());
  std::iota(order_.begin(), order_.end(), 0u);
  const uint64_t stream = rng_stream(kSftShuffleStream, epoch);
  for (size_t i = order_.size(); shuffle_ && i-- > 1;) {  // Fisher-Yates
    const PhiloxBlock r = philox4x32(seed_, stream, i);
    const uint64_t draw = (static_cast<uint64_t>(r[0]) << 32) | r[1];
    std::swap(order_[i], order_[draw % (i + 1)]);
  }
  order_epoch_ = epoch;
  return order_;
}

void SftLoader::restore(const LoaderState& s) {
  if (s.cursor >= examples_.size())
    throw Error(
        ErrorKind::kInput, "loader state",
        fmt::format("row {} is past the {} examples of an epoch", s.cursor, examples_.size()));
  state_ = s;
}

// One row: example `e` (null: a row of padding only) and its padding, a piece and a run of its
// own that sees nothing and is seen by nobody.
void SftLoader::fill_row(const TokenizedExample* e, std::vector<int32_t>& tokens,
                         std::vector<int32_t>& targets, std::vector<int32_t>& positions,
                         std::vector<int32_t>& cu, std::vector<int32_t>& roles,
                         std::vector<int32_t>& segment_ids, std::vector<int32_t>& segment_kinds,
                         int64_t& target_tokens) const {
  auto add_run = [&](SegmentKind kind) { segment_kinds.push_back(static_cast<int32_t>(kind)); };
  const int64_t len = e ? static_cast<int64_t>(e->tokens.size()) : 0;
  for (int64_t t = 0; t < len; ++t) {
    if (t == 0 || e->kinds[t] != e->kinds[t - 1]) add_run(e->kinds[t]);
    tokens.push_back(e->tokens[t]);
    const bool learn =
        t + 1 < len && (!how_.response_only || e->kinds[t + 1] == SegmentKind::kResponse);
    targets.push_back(learn ? e->tokens[t + 1] : kIgnoreTarget);
    target_tokens += learn;
    positions.push_back(static_cast<int32_t>(t));
    roles.push_back(static_cast<int32_t>(e->kinds[t]));
    segment_ids.push_back(static_cast<int32_t>(segment_kinds.size()) - 1);
  }
  if (len > 0) cu.push_back(static_cast<int32_t>(tokens.size()));
  if (len == seq_len_) return;
  add_run(SegmentKind::kPadding);
  for (int64_t t = len; t < seq_len_; ++t) {
    tokens.push_back(0);
    targets.push_back(kIgnoreTarget);
    positions.push_back(static_cast<int32_t>(t - len));
    roles.push_back(static_cast<int32_t>(SegmentKind::kPadding));
    segment_ids.push_back(static_cast<int32_t>(segment_kinds.size()) - 1);
  }
  cu.push_back(static_cast<int32_t>(tokens.size()));
}

Batch SftLoader::next() {
  ATTN_CHECK(has_next(), "SftLoader: next() after the evaluation pass ended");
  const uint64_t n = examples_.size();
  std::vector<int32_t> tokens, targets, positions, cu{0}, roles, segment_ids, segment_kinds;
  tokens.reserve(rows_ * seq_len_);
  int64_t target_tokens = 0;
  for (int64_t k = 0; k < rows_; ++k) {
    uint64_t epoch = state_.epoch, row = state_.cursor + rank_ + static_cast<uint64_t>(k) * world_;
    epoch += row / n;
    row %= n;
    // An evaluation pass past its last example fills the batch with padding rows.
    const TokenizedExample* e = shuffle_ || epoch == 0 ? &examples_[order(epoch)[row]] : nullptr;
    fill_row(e, tokens, targets, positions, cu, roles, segment_ids, segment_kinds, target_tokens);
  }
  const uint64_t advanced = state_.cursor + static_cast<uint64_t>(rows_) * world_;
  state_.epoch += advanced / n;
  state_.cursor = advanced % n;

  Batch b = make_batch(rows_, seq_len_, tokens, targets, positions, cu);
  ATTN_CHECK(b.target_tokens == target_tokens, "SftLoader: {} targets counted, {} in the rows",
             target_tokens, b.target_tokens);
  const int64_t count = static_cast<int64_t>(tokens.size());
  b.roles = Tensor::from_vector<int32_t>({count}, roles);
  if (how_.segment_mask) {
    b.segment_ids = Tensor::from_vector<int32_t>({count}, segment_ids);
    b.segment_kinds =
        Tensor::from_vector<int32_t>({static_cast<int64_t>(segment_kinds.size())}, segment_kinds);
  }
  return b;
}

}  // namespace attn
