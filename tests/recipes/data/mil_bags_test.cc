// MIL bags (recipes/data/mil_bags.h) and the AUC of their evaluation (recipes/train/mil_metrics.h).

#include "recipes/data/mil_bags.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

#include "framework/core/error.h"
#include "recipes/train/mil_metrics.h"

namespace attn {
namespace {

namespace cfg = attnlab::config;

cfg::Mil planted(uint64_t seed = 1) {
  cfg::Mil m;
  m.set_source(cfg::Mil::PLANTED_KEYS);
  m.set_seed(seed);
  m.set_min_instances(3);
  m.set_max_instances(12);
  m.set_instance_dim(5);
  m.set_key_fraction(0.2);
  m.set_key_signal(2.0);
  return m;
}

TEST(PlantedKeyBags, SizesKeysAndLabelsFollowTheOptions) {
  const MilSplit s = planted_key_bags(planted(), 600, 0);
  ASSERT_EQ(s.bags.size(), 600u);
  EXPECT_EQ(s.instance_dim, 5);
  int positives = 0;
  std::set<int64_t> sizes;
  for (const MilBag& b : s.bags) {
    ASSERT_GE(b.instances, 3);
    ASSERT_LE(b.instances, 12);
    sizes.insert(b.instances);
    EXPECT_EQ(b.features.size(), static_cast<size_t>(b.instances * 5));
    if (b.label == 0) {
      EXPECT_TRUE(b.keys.empty());
      continue;
    }
    ++positives;
    const int64_t want = std::max<int64_t>(1, std::llround(0.2 * b.instances));
    ASSERT_EQ(static_cast<int64_t>(b.keys.size()), want);
    for (size_t i = 0; i < b.keys.size(); ++i) {
      EXPECT_LT(b.keys[i], b.instances);
      if (i > 0) EXPECT_LT(b.keys[i - 1], b.keys[i]);  // distinct
    }
  }
  EXPECT_EQ(sizes.size(), 10u);  // every size of 3..12 occurs
  EXPECT_GT(positives, 240);
  EXPECT_LT(positives, 360);
}

TEST(PlantedKeyBags, KeysAreShiftedAlongOneDirection) {
  // The mean key instance minus the mean other instance is the planted shift: length key_signal.
  const MilSplit s = planted_key_bags(planted(), 3000, 0);
  std::vector<double> key(5, 0), other(5, 0);
  double nk = 0, no = 0;
  for (const MilBag& b : s.bags)
    for (int64_t n = 0; n < b.instances; ++n) {
      const bool is_key = std::find(b.keys.begin(), b.keys.end(), n) != b.keys.end();
      for (int j = 0; j < 5; ++j) (is_key ? key : other)[j] += b.features[n * 5 + j];
      (is_key ? nk : no) += 1;
    }
  double shift = 0;
  for (int j = 0; j < 5; ++j) shift += std::pow(key[j] / nk - other[j] / no, 2);
  EXPECT_NEAR(std::sqrt(shift), 2.0, 0.1);
}

TEST(PlantedKeyBags, DeterministicPerSeedAndSplit) {
  const MilSplit a = planted_key_bags(planted(), 50, 0), b = planted_key_bags(planted(), 50, 0);
  const MilSplit val = planted_key_bags(planted(), 50, 1),
                 other = planted_key_bags(planted(7), 50, 0);
  for (size_t i = 0; i < 50; ++i) EXPECT_EQ(a.bags[i].features, b.bags[i].features);
  EXPECT_NE(a.bags[0].features, val.bags[0].features);
  EXPECT_NE(a.bags[0].features, other.bags[0].features);
  // Bag i does not depend on how many bags are generated.
  EXPECT_EQ(planted_key_bags(planted(), 10, 0).bags[9].features, a.bags[9].features);
}

TEST(HashedSentences, SplitsSentencesAndFoldsCase) {
  const auto s = hashed_sentences("The cat sat. THE dog's bone! Why? 3.5 is \"odd.\" End", 1000);
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0].size(), 3u);
  EXPECT_EQ(s[1].size(), 3u);   // the, dog's, bone
  EXPECT_EQ(s[0][0], s[1][0]);  // The == THE
  EXPECT_EQ(s[2].size(), 1u);
  EXPECT_EQ(s[3].size(), 4u);  // 3, 5 (no sentence end inside "3.5"), is, odd
  EXPECT_EQ(s[4].size(), 1u);
  for (const auto& sentence : s)
    for (int32_t w : sentence) EXPECT_TRUE(w >= 0 && w < 1000);
  EXPECT_TRUE(hashed_sentences(" . ! ", 10).empty());
}

TokenShard two_genre_shard() {
  TokenShard shard;
  shard.vocab_size = 256;
  auto add = [&](const std::string& text, uint16_t genre) {
    std::vector<int32_t> t(text.begin(), text.end());
    append_document(shard, t, genre);
  };
  std::string news, fiction;
  for (int i = 0; i < 40; ++i) news += "Stocks rose " + std::to_string(i) + " points today. ";
  for (int i = 0; i < 30; ++i) fiction += "She said nothing " + std::to_string(i) + " times. ";
  add(news, 0);     // a: news, informative
  add(fiction, 9);  // k: fiction, imaginative
  return shard;
}

TEST(BrownGenreBags, LabelsByGenreGroupAndCutsRunsOfSentences) {
  cfg::Mil m;
  m.set_source(cfg::Mil::BROWN_GENRE);
  m.set_seed(3);
  m.set_min_instances(4);
  m.set_max_instances(6);
  const MilSplit s = brown_genre_bags(two_genre_shard(), "shard.bin", m, 0, 512, 0);
  EXPECT_EQ(s.instance_dim, 0);
  int64_t news_sentences = 0;
  for (const MilBag& b : s.bags) {
    EXPECT_GE(b.instances, 4);
    EXPECT_LE(b.instances, 6);
    EXPECT_EQ(b.label, b.document == 0 ? 0 : 1);
    ASSERT_EQ(b.word_offsets.size(), static_cast<size_t>(b.instances + 1));
    for (int64_t n = 0; n < b.instances; ++n)
      EXPECT_EQ(b.word_offsets[n + 1] - b.word_offsets[n], 5);  // five words a sentence
    if (b.document == 0) news_sentences += b.instances;
  }
  EXPECT_GT(news_sentences, 40 - 6);  // only a tail shorter than a bag is left out
  EXPECT_LE(news_sentences, 40);
  // A limit keeps a seeded subset in document order.
  const MilSplit few = brown_genre_bags(two_genre_shard(), "shard.bin", m, 3, 512, 0);
  ASSERT_EQ(few.bags.size(), 3u);
  EXPECT_LE(few.bags[0].document, few.bags[2].document);
}

TEST(BrownGenreBags, RefusesUnlabelledDocumentsAndTooShortOnes) {
  cfg::Mil m;
  m.set_min_instances(4);
  m.set_max_instances(6);
  TokenShard shard = two_genre_shard();
  shard.labels[1] = kNoLabel;
  try {
    brown_genre_bags(shard, "x/train.bin", m, 0, 512, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "x/train.bin");
    EXPECT_NE(e.message().find("document 1 has no Brown genre label"), std::string::npos);
  }
  m.set_min_instances(100);
  m.set_max_instances(100);
  EXPECT_THROW(brown_genre_bags(two_genre_shard(), "x", m, 0, 512, 0), Error);
}

TEST(RocAuc, MannWhitneyWithTies) {
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.75);
  EXPECT_DOUBLE_EQ(roc_auc({1, 2, 3, 4}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc({4, 3, 2, 1}, {0, 0, 1, 1}), 0.0);
  EXPECT_DOUBLE_EQ(roc_auc({5, 5, 5, 5}, {0, 1, 0, 1}), 0.5);
  EXPECT_DOUBLE_EQ(roc_auc({1, 2, 2, 3}, {0, 0, 1, 1}), 0.875);  // one tied pair counts 1/2
  EXPECT_TRUE(std::isnan(roc_auc({1, 2}, {1, 1})));
  EXPECT_THROW(roc_auc({1}, {0, 1}), Error);
}

}  // namespace
}  // namespace attn
