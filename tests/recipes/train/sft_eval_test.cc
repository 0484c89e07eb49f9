// SFT evaluation (recipes/train/evaluate.h): exact match counts exactly the test examples whose
// response greedy decoding reproduces (checked against attnlab's own sampler at temperature 0),
// over ranks, with padding rows ignored; the focus pass reports sink mass and context
// engagement.
#include <gtest/gtest.h>

#include "framework/core/param_store.h"
#include "recipes/train/evaluate.h"
#include "recipes/train/sample.h"

namespace attn {
namespace {

GptConfig tiny_config() {
  GptConfig c;
  c.vocab_size = 256;
  c.width = 32;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 4;
  c.mlp_hidden = 64;
  c.max_seq_len = 32;
  c.init_std = 0.5;  // far from uniform logits: the greedy choice is clear
  return c;
}

TEST(ExactMatch, CountsTheExamplesGreedyDecodingReproduces) {
  ParamStore store(DType::kF32);
  Gpt model(store, tiny_config());
  store.finalize();
  store.initialize(5);
  const ByteTokenizer bytes;
  // Responses of 3 bytes: for even i the model's own greedy continuation (right by construction),
  // for odd i the same with its last byte changed (wrong).
  std::vector<SftExample> examples;
  int expected = 0;
  for (int i = 0; i < 7; ++i) {
    const std::string context = std::string("context ") + static_cast<char>('a' + i) + ":";
    SampleOptions greedy;
    greedy.prompt = context;
    greedy.tokens = 3;
    greedy.temperature = 0;
    std::string response = sample(model, bytes, greedy, 32);
    if (i % 2 == 1) response.back() = static_cast<char>(response.back() == 'x' ? 'y' : 'x');
    expected += i % 2 == 0;
    SftExample e;
    e.runs = {{RunRole::kContext, context}, {RunRole::kResponse, response}};
    examples.push_back(e);
  }
  DataSource data;
  data.examples = true;
  data.seq_len = 32;
  data.rows.segment_mask = false;  // the sampler decodes causally
  data.test_examples = tokenize_examples(examples, bytes, 32, "test");
  data.val_examples = data.test_examples;
  data.token_bytes.assign(256, 1.0);
  const ExactMatch one = exact_match(model, data, 3);
  EXPECT_EQ(one.examples, 7);
  EXPECT_EQ(one.correct, expected);
  // Two ranks of 2 rows each: shares that add up to the same count.
  ExactMatch sum;
  for (int rank = 0; rank < 2; ++rank) {
    const ExactMatch m = exact_match(model, data, 4, nullptr, rank, 2);
    sum.correct += m.correct;
    sum.examples += m.examples;
  }
  EXPECT_EQ(sum.examples, 7);
  EXPECT_EQ(sum.correct, expected);

  AttentionDiagnostics focus(0.3, /*focus_only=*/true);
  exact_match(model, data, 3, &focus);
  std::map<std::string, double> got;
  for (const auto& [key, value] : focus.values()) got[key] = value;
  ASSERT_TRUE(got.count("attn/sink_mass") && got.count("attn/context_engagement"));
  const double s = got.at("attn/sink_mass"), c = got.at("attn/context_engagement");
  EXPECT_GT(s, 0);
  EXPECT_GT(c, 0);
  // Response queries also attend to the response itself: the two stay below 1 together.
  EXPECT_LT(s + c, 1);

  // Validation under the same rows: response-token loss only, over every example once.
  const EvalResult e = evaluate(model, data, 4, 100);
  EXPECT_EQ(e.tokens, 7 * 3);
  EXPECT_GT(e.loss, 0);
}

TEST(ExactMatch, TokenCorporaHaveNoTestSplit) {
  ParamStore store(DType::kF32);
  Gpt model(store, tiny_config());
  store.finalize();
  store.initialize(5);
  const ExactMatch m = exact_match(model, DataSource{}, 2);
  EXPECT_EQ(m.examples, 0);
  EXPECT_TRUE(std::isnan(m.accuracy()));
}

}  // namespace
}  // namespace attn
