// SFT batches (recipes/data/sft_loader.h): response-only targets, the runs as segment mask, the
// padding piece, deterministic resumable epochs over ranks; errors naming the example; and the
// segment mask through a whole GPT: no response token sees its own future, context is
// bidirectional inside its run and sees no later run, padding changes nothing.
#include <gtest/gtest.h>

#include <set>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/core/param_store.h"
#include "layers/models/gpt.h"
#include "recipes/data/sft_loader.h"

namespace attn {
namespace {

SftExample example(const std::string& context, const std::string& response) {
  SftExample e;
  e.runs = {{RunRole::kContext, context}, {RunRole::kResponse, response}};
  return e;
}

std::vector<TokenizedExample> tokenized(int n) {
  std::vector<SftExample> ex;
  for (int i = 0; i < n; ++i)
    ex.push_back(example(std::string(3 + i % 3, 'a' + i % 26), std::string(2, 'A' + i % 26)));
  return tokenize_examples(ex, ByteTokenizer(), 8, "test");
}

TEST(SftLoader, TargetsOnlyOnResponseTokensAndRunsAsSegments) {
  SftLoader loader(tokenize_examples({example("abc", "XY")}, ByteTokenizer(), 8, "t"), 8, 1, 1, 0,
                   1);
  const Batch b = loader.next();
  EXPECT_EQ(b.tokens.to_vector<int32_t>(),
            (std::vector<int32_t>{'a', 'b', 'c', 'X', 'Y', 0, 0, 0}));
  // c predicts X, X predicts Y; nothing else is learned.
  EXPECT_EQ(b.targets.to_vector<int32_t>(),
            (std::vector<int32_t>{-100, -100, 'X', 'Y', -100, -100, -100, -100}));
  EXPECT_EQ(b.target_tokens, 2);
  EXPECT_EQ(b.cu_seqlens.to_vector<int32_t>(), (std::vector<int32_t>{0, 5, 8}));
  EXPECT_EQ(b.positions.to_vector<int32_t>(), (std::vector<int32_t>{0, 1, 2, 3, 4, 0, 1, 2}));
  EXPECT_EQ(b.segment_ids.to_vector<int32_t>(), (std::vector<int32_t>{0, 0, 0, 1, 1, 2, 2, 2}));
  EXPECT_EQ(b.segment_kinds.to_vector<int32_t>(),
            (std::vector<int32_t>{static_cast<int32_t>(SegmentKind::kContext),
                                  static_cast<int32_t>(SegmentKind::kResponse),
                                  static_cast<int32_t>(SegmentKind::kPadding)}));
  const GptInput in = gpt_input(b);
  EXPECT_EQ(in.seq.mask.kind, MaskKind::kSegment);
}

TEST(SftLoader, CausalRowsAndTargetsOnEveryTokenAreOptions) {
  const auto one = tokenize_examples({example("abc", "XY")}, ByteTokenizer(), 8, "t");
  SftLoader causal(one, 8, 1, 1, 0, 1, SftRows{.segment_mask = false, .response_only = true});
  const Batch b = causal.next();
  EXPECT_FALSE(b.segment_ids.defined());
  EXPECT_EQ(gpt_input(b).seq.mask.kind, MaskKind::kCausal);
  EXPECT_EQ(b.target_tokens, 2);
  // The roles travel whatever the mask: the focus diagnostics need them.
  const int32_t C = 0, R = 1, P = 2;
  EXPECT_EQ(b.roles.to_vector<int32_t>(), (std::vector<int32_t>{C, C, C, R, R, P, P, P}));
  EXPECT_EQ(gpt_input(b).seq.roles.to_vector<int32_t>(), b.roles.to_vector<int32_t>());
  SftLoader all(one, 8, 1, 1, 0, 1, SftRows{.segment_mask = false, .response_only = false});
  EXPECT_EQ(all.next().targets.to_vector<int32_t>(),
            (std::vector<int32_t>{'b', 'c', 'X', 'Y', -100, -100, -100, -100}));
}

TEST(SftLoader, EvaluationIsOnePassInOrderFilledUpWithPadding) {
  // 5 examples, 2 rows on each of 2 ranks: rows 0..3 then 4 and three padding rows.
  std::vector<std::vector<int32_t>> firsts(2);
  for (int rank = 0; rank < 2; ++rank) {
    SftLoader e = SftLoader::eval(tokenized(5), 8, 2, rank, 2);
    int64_t batches = 0, targets = 0;
    while (e.has_next()) {
      const Batch b = e.next();
      ++batches;
      targets += b.target_tokens;
      const std::vector<int32_t> t = b.tokens.to_vector<int32_t>();
      for (int64_t row = 0; row < 2; ++row) firsts[rank].push_back(t[row * 8]);
    }
    EXPECT_EQ(batches, 2) << rank;
    EXPECT_EQ(targets, rank == 0 ? 3 * 2 : 2 * 2) << rank;
  }
  // Global row g is example g: rank 0 takes 0, 2, 4; rank 1 takes 1, 3; the rest is padding.
  EXPECT_EQ(firsts[0], (std::vector<int32_t>{'a', 'c', 'e', 0}));
  EXPECT_EQ(firsts[1], (std::vector<int32_t>{'b', 'd', 0, 0}));
}

TEST(SftLoader, EpochsAreShuffledDeterministicallyResumableAndSplitOverRanks) {
  SftLoader a(tokenized(10), 8, 3, 5, 0, 1), b(tokenized(10), 8, 3, 5, 0, 1);
  std::vector<std::vector<int32_t>> seen;
  for (int i = 0; i < 7; ++i) seen.push_back(a.next().tokens.to_vector<int32_t>());
  // Resume after batch 4 of the same stream.
  for (int i = 0; i < 4; ++i) b.next();
  SftLoader c(tokenized(10), 8, 3, 5, 0, 1);
  c.restore(b.state());
  for (int i = 4; i < 7; ++i) EXPECT_EQ(c.next().tokens.to_vector<int32_t>(), seen[i]) << i;
  // Every example once per epoch (10 rows: batches 0-2 and the first row of batch 3).
  std::set<std::vector<int32_t>> epoch;
  for (int i = 0; i < 3; ++i)
    for (int r = 0; r < 3; ++r)
      epoch.insert(std::vector<int32_t>(seen[i].begin() + r * 8, seen[i].begin() + r * 8 + 8));
  epoch.insert(std::vector<int32_t>(seen[3].begin(), seen[3].begin() + 8));
  EXPECT_EQ(epoch.size(), 10u);
  // Two ranks of 1 row each take what one rank of 2 rows takes, interleaved.
  SftLoader one(tokenized(10), 8, 2, 5, 0, 1), r0(tokenized(10), 8, 1, 5, 0, 2),
      r1(tokenized(10), 8, 1, 5, 1, 2);
  for (int i = 0; i < 6; ++i) {
    const std::vector<int32_t> both = one.next().tokens.to_vector<int32_t>();
    EXPECT_EQ(r0.next().tokens.to_vector<int32_t>(),
              std::vector<int32_t>(both.begin(), both.begin() + 8));
    EXPECT_EQ(r1.next().tokens.to_vector<int32_t>(),
              std::vector<int32_t>(both.begin() + 8, both.end()));
  }
  EXPECT_THROW(c.restore({0, 10}), Error);
}

TEST(SftLoader, ExamplesThatCannotTrainAreErrorsNamingThem) {
  SftExample longer = example("abcdefgh", "XY");
  longer.where = "data.jsonl:7";
  try {
    tokenize_examples({example("a", "B"), longer}, ByteTokenizer(), 8, "t");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "data.jsonl:7");
    EXPECT_NE(e.message().find("10 tokens does not fit model.seq_len 8"), std::string::npos);
  }
  try {
    tokenize_examples({example("a", "B"), example("context only", "")}, ByteTokenizer(), 64, "gen");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "gen example 1");
    EXPECT_NE(e.message().find("no response"), std::string::npos);
  }
}

// Logits of one SFT row through a small GPT, after replacing token `at` by `with`.
std::vector<double> logits_with(const Gpt& model, Batch b, int at, int32_t with) {
  std::vector<int32_t> t = b.tokens.to_vector<int32_t>();
  t[at] = with;
  b.tokens = Tensor::from_vector<int32_t>({static_cast<int64_t>(t.size())}, t);
  NoGrad no_grad;
  return model.logits(gpt_input(b)).to_vector<double>();
}

TEST(SftLoader, TheSegmentMaskHoldsThroughAWholeModel) {
  GptConfig c;
  c.vocab_size = 256;
  c.width = 16;
  c.layers = 2;
  c.heads = 2;
  c.kv_heads = 2;
  c.mlp_hidden = 32;
  c.max_seq_len = 12;
  c.init_std = 0.3;
  ParamStore store(DType::kF64);
  Gpt model(store, c);
  store.finalize();
  store.initialize(3);
  // Tokens 0-3 context, 4-7 response, 8-11 padding.
  SftLoader loader(tokenize_examples({example("abcd", "WXYZ")}, ByteTokenizer(), 12, "t"), 12, 1, 1,
                   0, 1);
  const Batch b = loader.next();
  const int64_t V = 256;
  const std::vector<double> base = logits_with(model, b, 0, 'a');
  auto rows_equal = [&](const std::vector<double>& x, int row) {
    return std::equal(x.begin() + row * V, x.begin() + (row + 1) * V, base.begin() + row * V);
  };
  // A later response token: earlier response rows and every context row unchanged.
  const std::vector<double> r6 = logits_with(model, b, 6, 'Q');
  for (int row : {0, 1, 2, 3, 4, 5}) EXPECT_TRUE(rows_equal(r6, row)) << row;
  EXPECT_FALSE(rows_equal(r6, 6));
  EXPECT_FALSE(rows_equal(r6, 7));
  // The last context token: the first context row sees it (bidirectional run).
  const std::vector<double> c3 = logits_with(model, b, 3, 'q');
  EXPECT_FALSE(rows_equal(c3, 0));
  EXPECT_FALSE(rows_equal(c3, 4));
  // Padding: nothing but its own row moves.
  const std::vector<double> p9 = logits_with(model, b, 9, 'z');
  for (int row = 0; row < 12; ++row) {
    if (row != 9) {
      EXPECT_TRUE(rows_equal(p9, row)) << row;
    }
  }
}

}  // namespace
}  // namespace attn
