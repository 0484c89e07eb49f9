// TokenLoader on a tiny synthetic corpus whose token ids encode (document, position): batches
// are checked for determinism, resume, epoch coverage, document-local targets, consistent
// positions/cu_seqlens, rank partitioning, the evaluation pass, and that the GPT model takes them.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <unistd.h>

#include "framework/core/error.h"
#include "framework/core/param_store.h"
#include "layers/models/gpt.h"
#include "recipes/data/loader.h"
#include "recipes/data/token_shard.h"

namespace attn {
namespace {
namespace fs = std::filesystem;

constexpr int32_t kDocStride = 1000;  // token = 1 + doc * 1000 + position; 0 is padding only
int doc_of(int32_t token) {
  return (token - 1) / kDocStride;
}
int pos_of(int32_t token) {
  return (token - 1) % kDocStride;
}

std::string temp_dir() {
  fs::path dir = fs::temp_directory_path() / ("attnlab_loader_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir.string();
}

// Two shards, document lengths 5 17 1 9 30 | 12 0 3 25 (102 tokens, one empty document).
std::vector<std::string> corpus() {
  static std::vector<std::string> paths;
  if (!paths.empty()) return paths;
  const std::vector<std::vector<int>> lengths = {{5, 17, 1, 9, 30}, {12, 0, 3, 25}};
  int doc = 0;
  for (size_t s = 0; s < lengths.size(); ++s) {
    TokenShard shard;
    shard.vocab_size = 100 * kDocStride + 1;
    for (int n : lengths[s]) {
      std::vector<int32_t> toks;
      for (int p = 0; p < n; ++p) toks.push_back(1 + doc * kDocStride + p);
      append_document(shard, toks, static_cast<uint16_t>(doc % 15));
      ++doc;
    }
    paths.push_back(temp_dir() + "/shard" + std::to_string(s) + ".bin");
    write_token_shard(paths.back(), shard);
  }
  return paths;
}
const std::map<int, int> kDocLength = {{0, 5},  {1, 17}, {2, 1}, {3, 9},
                                       {4, 30}, {5, 12}, {7, 3}, {8, 25}};

struct Rows {
  std::vector<int32_t> tokens, targets, positions, cu;
};
Rows unpack(const Batch& b) {
  return {b.tokens.to_vector<int32_t>(), b.targets.to_vector<int32_t>(),
          b.positions.to_vector<int32_t>(), b.cu_seqlens.to_vector<int32_t>()};
}

bool same(const Batch& a, const Batch& b) {
  Rows x = unpack(a), y = unpack(b);
  return x.tokens == y.tokens && x.targets == y.targets && x.positions == y.positions &&
         x.cu == y.cu && a.target_tokens == b.target_tokens;
}

// Checks every invariant of one batch; padding is token 0 with target -100.
void check_batch(const Batch& b, bool packed) {
  const Rows r = unpack(b);
  const int64_t n = b.rows * b.seq_len;
  ASSERT_EQ(static_cast<int64_t>(r.tokens.size()), n);
  ASSERT_EQ(b.tokens.dtype(), DType::kI32);
  ASSERT_EQ(b.cu_seqlens.dtype(), DType::kI32);
  // cu_seqlens: 0 .. n, increasing, every row start is a boundary, positions restart per piece.
  ASSERT_EQ(r.cu.front(), 0);
  ASSERT_EQ(r.cu.back(), n);
  for (int64_t row = 0; row <= b.rows; ++row)
    EXPECT_TRUE(std::binary_search(r.cu.begin(), r.cu.end(), row * b.seq_len)) << row;
  int64_t targets = 0;
  for (size_t p = 0; p + 1 < r.cu.size(); ++p) {
    ASSERT_LT(r.cu[p], r.cu[p + 1]);
    const bool padding = r.tokens[r.cu[p]] == 0;
    const int doc = doc_of(r.tokens[r.cu[p]]);
    for (int32_t i = r.cu[p]; i < r.cu[p + 1]; ++i) {
      EXPECT_EQ(r.positions[i], i - r.cu[p]);
      if (padding) {
        EXPECT_EQ(r.tokens[i], 0);
        EXPECT_EQ(r.targets[i], kIgnoreTarget);
        continue;
      }
      EXPECT_EQ(doc_of(r.tokens[i]), doc) << "a piece mixes documents";
      if (i > r.cu[p]) {
        EXPECT_EQ(r.tokens[i], r.tokens[i - 1] + 1) << "piece not contiguous";
      }
      if (r.targets[i] == kIgnoreTarget) {
        // Only a document's last token lacks a target.
        EXPECT_EQ(pos_of(r.tokens[i]), kDocLength.at(doc) - 1) << "token " << r.tokens[i];
      } else {
        EXPECT_EQ(r.targets[i], r.tokens[i] + 1) << "target crosses a document";
        ++targets;
      }
    }
  }
  EXPECT_EQ(b.target_tokens, targets);
  if (!packed) {
    // One document per row, starting at a multiple of seq_len inside it.
    for (int64_t row = 0; row < b.rows; ++row)
      EXPECT_EQ(pos_of(r.tokens[row * b.seq_len]) % b.seq_len, 0);
  }
}

TEST(TokenLoader, CorpusShape) {
  TokenLoader l(corpus(), 8, 2, 1, 0, 1, true);
  EXPECT_EQ(l.num_tokens(), 102u);
  EXPECT_EQ(l.num_docs(), 8u);  // the empty document is skipped
  EXPECT_EQ(l.rows_per_epoch(), 13u);
  EXPECT_EQ(l.vocab_size(), 100u * kDocStride + 1);
  TokenLoader u(corpus(), 8, 2, 1, 0, 1, false);
  EXPECT_EQ(u.rows_per_epoch(), 1u + 3 + 1 + 2 + 4 + 2 + 1 + 4);
}

TEST(TokenLoader, BatchesAreValidInBothModes) {
  for (bool packed : {true, false}) {
    for (int64_t seq_len : {1, 4, 7, 64}) {
      TokenLoader l(corpus(), seq_len, 3, 5, 0, 1, packed);
      for (int step = 0; step < 12; ++step) {
        SCOPED_TRACE(::testing::Message() << "packed " << packed << " seq_len " << seq_len);
        check_batch(l.next(), packed);
      }
    }
  }
}

TEST(TokenLoader, DeterministicAndSeedDependent) {
  TokenLoader a(corpus(), 8, 4, 7, 0, 1, true), b(corpus(), 8, 4, 7, 0, 1, true);
  TokenLoader c(corpus(), 8, 4, 8, 0, 1, true);
  bool differs = false;
  for (int step = 0; step < 6; ++step) {
    Batch x = a.next(), y = b.next(), z = c.next();
    EXPECT_TRUE(same(x, y)) << step;
    differs |= !same(x, z);
  }
  EXPECT_TRUE(differs);
}

// The deterministic reduction's sample groups: rows m, m + L, ... of one rank's batch are the
// batch rank m of L would load (the loader deals global rows round-robin).
TEST(TokenLoader, SelectRowsMatchesTheRanksOwnBatches) {
  for (bool packed : {true, false}) {
    for (int64_t seq_len : {1, 5, 8}) {
      TokenLoader whole(corpus(), seq_len, 8, 3, 0, 1, packed);
      std::vector<TokenLoader> ranks;
      for (int r = 0; r < 4; ++r) ranks.emplace_back(corpus(), seq_len, 2, 3, r, 4, packed);
      for (int step = 0; step < 5; ++step) {
        SCOPED_TRACE(::testing::Message() << "packed " << packed << " seq_len " << seq_len);
        const Batch all = whole.next();
        for (int r = 0; r < 4; ++r) {
          const Batch part = select_rows(all, r, 4);
          EXPECT_TRUE(same(part, ranks[r].next())) << "rank " << r << " step " << step;
          check_batch(part, packed);
        }
      }
    }
  }
}

TEST(TokenLoader, ResumeMidEpochIsBitIdentical) {
  for (bool packed : {true, false}) {
    TokenLoader a(corpus(), 6, 3, 11, 0, 1, packed);
    for (int step = 0; step < 5; ++step) a.next();
    const LoaderState saved = a.state();
    EXPECT_GT(saved.epoch + saved.cursor, 0u);
    TokenLoader b(corpus(), 6, 3, 11, 0, 1, packed);
    b.restore(saved);
    for (int step = 0; step < 10; ++step) EXPECT_TRUE(same(a.next(), b.next())) << step;
    EXPECT_EQ(a.state(), b.state());
  }
}

TEST(TokenLoader, EpochCoversEveryTokenOnceThenWraps) {
  for (bool packed : {true, false}) {
    // One row per batch: rows_per_epoch batches are exactly one epoch.
    TokenLoader l(corpus(), 8, 1, 3, 0, 1, packed);
    std::vector<std::vector<int32_t>> epochs(2);
    for (int e = 0; e < 2; ++e) {
      std::map<int32_t, int> seen;
      for (uint64_t i = 0; i < l.rows_per_epoch(); ++i) {
        Rows r = unpack(l.next());
        for (size_t t = 0; t < r.tokens.size(); ++t) {
          if (r.tokens[t] == 0) continue;  // padding
          ++seen[r.tokens[t]];
          epochs[e].push_back(r.tokens[t]);
        }
      }
      EXPECT_EQ(l.state(), (LoaderState{static_cast<uint64_t>(e + 1), 0}));
      EXPECT_EQ(seen.size(), 102u);
      for (auto [tok, count] : seen) EXPECT_EQ(count, 1) << tok;
    }
    EXPECT_NE(epochs[0], epochs[1]) << "every epoch reshuffles the documents";
  }
}

TEST(TokenLoader, RanksPartitionTheGlobalBatch) {
  for (bool packed : {true, false}) {
    for (int world : {2, 3}) {
      const int64_t rows = 2, seq_len = 5;
      TokenLoader global(corpus(), seq_len, rows * world, 9, 0, 1, packed);
      std::vector<TokenLoader> ranks;
      for (int r = 0; r < world; ++r)
        ranks.emplace_back(corpus(), seq_len, rows, 9, r, world, packed);
      for (int step = 0; step < 9; ++step) {  // crosses epoch boundaries
        Rows g = unpack(global.next());
        for (int r = 0; r < world; ++r) {
          Rows part = unpack(ranks[r].next());
          for (int64_t j = 0; j < rows; ++j) {
            const int64_t gr = j * world + r;
            auto slice = [&](const std::vector<int32_t>& v, int64_t row) {
              return std::vector<int32_t>(v.begin() + row * seq_len,
                                          v.begin() + (row + 1) * seq_len);
            };
            EXPECT_EQ(slice(part.tokens, j), slice(g.tokens, gr));
            EXPECT_EQ(slice(part.targets, j), slice(g.targets, gr));
            EXPECT_EQ(slice(part.positions, j), slice(g.positions, gr));
          }
          EXPECT_EQ(ranks[r].state(), global.state());
        }
      }
    }
  }
}

TEST(TokenLoader, EvalPassVisitsEverythingOnceInFileOrder) {
  for (int world : {1, 2}) {
    std::map<int32_t, int> seen;
    std::vector<int32_t> order;
    int batches = 0;
    for (int r = 0; r < world; ++r) {
      TokenLoader l = TokenLoader::eval(corpus(), 8, 5, r, world, true);
      while (l.has_next()) {
        Batch b = l.next();
        ++batches;
        check_batch(b, true);
        Rows rows = unpack(b);
        for (size_t t = 0; t < rows.tokens.size(); ++t)
          if (rows.tokens[t] != 0) {
            ++seen[rows.tokens[t]];
            if (world == 1) order.push_back(rows.tokens[t]);
          }
      }
      EXPECT_THROW(l.next(), Error);
      l.reset();
      EXPECT_TRUE(l.has_next());
    }
    // 13 rows: 3 batches of 5 (world 1); 2 batches of 2 x 5 rows (world 2), per rank.
    EXPECT_EQ(batches, world == 1 ? 3 : 4);
    EXPECT_EQ(seen.size(), 102u);
    for (auto [tok, count] : seen) EXPECT_EQ(count, 1) << tok;
    if (world == 1) {
      EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
    }
  }
}

TEST(TokenLoader, RejectsBadArguments) {
  EXPECT_THROW(TokenLoader({}, 8, 1, 0, 0, 1, true), Error);
  EXPECT_THROW(TokenLoader(corpus(), 0, 1, 0, 0, 1, true), Error);
  EXPECT_THROW(TokenLoader(corpus(), 8, 1, 0, 2, 2, true), Error);
  TokenLoader l(corpus(), 8, 1, 0, 0, 1, true);
  EXPECT_THROW(l.restore(LoaderState{0, 13}), Error);
  // Shards of different vocabularies cannot be mixed.
  TokenShard other;
  other.vocab_size = 256;
  append_document(other, {1, 2, 3});
  const std::string path = temp_dir() + "/other.bin";
  write_token_shard(path, other);
  std::vector<std::string> mixed = corpus();
  mixed.push_back(path);
  EXPECT_THROW(TokenLoader(mixed, 8, 1, 0, 0, 1, true), Error);
}

TEST(TokenLoader, GptTakesTheBatchDirectly) {
  TokenShard shard;
  shard.vocab_size = 16;
  for (int d = 0; d < 6; ++d) {
    std::vector<int32_t> toks;
    for (int p = 0; p < 3 + 2 * d; ++p) toks.push_back((d + p) % 16);
    append_document(shard, toks);
  }
  const std::string path = temp_dir() + "/gpt.bin";
  write_token_shard(path, shard);
  TokenLoader l({path}, 6, 3, 1, 0, 1, true);
  GptConfig c;
  c.vocab_size = 16;
  c.width = 8;
  c.layers = 1;
  c.heads = 2;
  c.kv_heads = 2;
  c.mlp_hidden = 16;
  c.max_seq_len = 6;
  ParamStore store;
  Gpt model(store, c);
  store.finalize();
  store.initialize(1);
  const double loss = model.loss(gpt_input(l.next())).item();
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_GT(loss, 0.0);
}

}  // namespace
}  // namespace attn

namespace attn {
namespace {

constexpr int32_t kBos = 100 * kDocStride + 1;  // the shard vocabulary's size

// One epoch of one-row batches with BOS: every document token is an input exactly once, BOS is
// never a target, and BOS sits exactly where the mode puts it.
TEST(TokenLoaderBos, PackedDocumentsAndUnpackedWindowsStartWithBos) {
  for (bool packed : {true, false}) {
    const int64_t seq_len = 8;
    TokenLoader l(corpus(), seq_len, 1, 3, 0, 1, packed, kBos);
    std::map<int32_t, int> seen;
    int bos_count = 0;
    for (uint64_t i = 0; i < l.rows_per_epoch(); ++i) {
      Rows r = unpack(l.next());
      for (size_t t = 0; t < r.tokens.size(); ++t) {
        EXPECT_NE(r.targets[t], kBos) << "BOS is never a target";
        if (r.tokens[t] == 0) continue;  // padding
        if (r.tokens[t] != kBos) {
          ++seen[r.tokens[t]];
          continue;
        }
        ++bos_count;
        // BOS predicts the token after it, which starts the document (packed) or the window.
        ASSERT_LT(t + 1, r.tokens.size());
        EXPECT_EQ(r.targets[t], r.tokens[t + 1]);
        if (packed) {
          EXPECT_EQ(pos_of(r.tokens[t + 1]), 0) << "packed: BOS only before a document start";
        } else {
          EXPECT_EQ(t, 0u) << "unpacked: BOS first in its row";
          EXPECT_EQ(r.positions[t], 0);
          EXPECT_EQ(pos_of(r.tokens[1]) % (seq_len - 1), 0) << "windows of seq_len - 1 tokens";
        }
      }
      if (!packed) EXPECT_EQ(r.tokens[0], kBos) << "every window starts with BOS";
    }
    EXPECT_EQ(seen.size(), 102u) << "packed " << packed;
    for (auto [tok, count] : seen) EXPECT_EQ(count, 1) << tok;
    // Packed: one BOS per document (8). Unpacked: one per window of 7 tokens.
    int windows = 0;
    for (auto [doc, n] : kDocLength) windows += (n + 6) / 7;
    EXPECT_EQ(bos_count, packed ? 8 : windows);
  }
}

TEST(TokenLoaderBos, ASingleTokenRowCannotHoldADocument) {
  EXPECT_THROW(TokenLoader(corpus(), 1, 1, 3, 0, 1, false, kBos), Error);
}

}  // namespace
}  // namespace attn
