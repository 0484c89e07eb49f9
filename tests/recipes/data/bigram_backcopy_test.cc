// The Bigram-Backcopy task and its loader: determinism, the trigger rule in every sequence, the
// optimal loss against a brute-force enumeration and a Monte-Carlo estimate, bad options, and
// batches that split over ranks and resume.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "framework/core/error.h"
#include "recipes/data/bigram_backcopy_loader.h"
#include "recipes/data/synthetic/bigram_backcopy.h"

namespace attn {
namespace {

BigramBackcopyOptions small(int vocab = 12, int triggers = 2, uint64_t seed = 5) {
  BigramBackcopyOptions o;
  o.vocab = vocab;
  o.triggers = triggers;
  o.seed = seed;
  return o;
}

TEST(BigramBackcopy, SequencesAreDeterministicPerSplitAndIndex) {
  const BigramBackcopy a(small()), b(small());
  EXPECT_EQ(a.sequence(BbSplit::kTrain, 7, 64), b.sequence(BbSplit::kTrain, 7, 64));
  EXPECT_NE(a.sequence(BbSplit::kTrain, 7, 64), a.sequence(BbSplit::kTrain, 8, 64));
  EXPECT_NE(a.sequence(BbSplit::kTrain, 7, 64), a.sequence(BbSplit::kVal, 7, 64));
  const BigramBackcopy other(small(12, 2, 6));
  EXPECT_NE(a.sequence(BbSplit::kTrain, 7, 64), other.sequence(BbSplit::kTrain, 7, 64));
  // A shorter sequence is a prefix of a longer one (the draws do not depend on the length).
  const std::vector<int32_t> longer = a.sequence(BbSplit::kTrain, 3, 64);
  const std::vector<int32_t> shorter = a.sequence(BbSplit::kTrain, 3, 20);
  EXPECT_TRUE(std::equal(shorter.begin(), shorter.end(), longer.begin()));
}

TEST(BigramBackcopy, EverySequenceFollowsTheTriggerRule) {
  const BigramBackcopy task(small(16, 3));
  ASSERT_EQ(task.triggers().size(), 3u);
  for (int32_t a = 0; a < task.vocab(); ++a) {
    double row = 0;
    for (int32_t b = 0; b < task.vocab(); ++b) row += task.transition(a, b);
    EXPECT_NEAR(row, 1.0, 1e-12);
  }
  int64_t copies = 0;
  for (uint64_t i = 0; i < 200; ++i) {
    const std::vector<int32_t> s = task.sequence(BbSplit::kTrain, i, 128);
    ASSERT_EQ(s.size(), 129u);
    EXPECT_EQ(s[0], task.bos());
    EXPECT_FALSE(task.is_trigger(s[1])) << "the first symbol has nothing to copy";
    for (size_t t = 1; t < s.size(); ++t) {
      ASSERT_GE(s[t], 0);
      ASSERT_LT(s[t], task.vocab()) << "BOS only at the start";
      if (t >= 2 && task.is_trigger(s[t - 1])) {
        EXPECT_EQ(s[t], s[t - 2]) << "sequence " << i << " position " << t;
        EXPECT_FALSE(task.is_trigger(s[t])) << "copies never chain";
        ++copies;
      }
    }
  }
  EXPECT_GT(copies, 200) << "triggers are frequent symbols";
}

TEST(BigramBackcopy, TriggersAreTheMostFrequentSymbols) {
  const BigramBackcopy task(small(10, 2));
  std::vector<int64_t> count(10, 0);
  // Count bigram-driven symbols only (the copies shift the mix slightly).
  for (uint64_t i = 0; i < 400; ++i) {
    const std::vector<int32_t> s = task.sequence(BbSplit::kTrain, i, 256);
    for (size_t t = 2; t < s.size(); ++t)
      if (!task.is_trigger(s[t - 1])) ++count[s[t]];
  }
  int64_t least_trigger = INT64_MAX, most_other = 0;
  for (int32_t c = 0; c < 10; ++c)
    (task.is_trigger(c) ? least_trigger : most_other) =
        task.is_trigger(c) ? std::min(least_trigger, count[c]) : std::max(most_other, count[c]);
  EXPECT_GT(least_trigger, most_other);
}

// Probability of a sequence under the task's rules, written out independently of the generator.
double probability(const BigramBackcopy& task, const std::vector<int32_t>& x) {
  const int free = task.vocab() - static_cast<int>(task.triggers().size());
  if (task.is_trigger(x[0])) return 0;
  double p = 1.0 / free;
  for (size_t t = 1; t < x.size(); ++t) {
    if (task.is_trigger(x[t - 1]))
      p *= (t >= 2 && x[t] == x[t - 2]) ? 1.0 : 0.0;
    else
      p *= task.transition(x[t - 1], x[t]);
  }
  return p;
}

TEST(BigramBackcopy, OptimalLossIsTheEntropyRateOfAllSequences) {
  for (int triggers : {1, 2}) {
    BigramBackcopyOptions o = small(5, triggers, 11);
    o.logit_std = 1.0;
    const BigramBackcopy task(o);
    for (int length : {1, 2, 6}) {
      // Every sequence of `length` symbols: the Bayes-optimal loss is H(X_1..X_L) / L.
      double entropy = 0, total = 0;
      std::vector<int32_t> x(length, 0);
      std::function<void(int)> walk = [&](int i) {
        if (i == length) {
          const double p = probability(task, x);
          total += p;
          if (p > 0) entropy -= p * std::log(p);
          return;
        }
        for (int32_t c = 0; c < task.vocab(); ++c) x[i] = c, walk(i + 1);
      };
      walk(0);
      EXPECT_NEAR(total, 1.0, 1e-12);
      EXPECT_NEAR(task.optimal_loss(length), entropy / length, 1e-12)
          << triggers << " triggers, length " << length;
    }
  }
}

TEST(BigramBackcopy, GeneratedSequencesScoreTheOptimalLossOnAverage) {
  const BigramBackcopy task(small(20, 3, 9));
  const int64_t length = 64;
  double nats = 0, sq = 0;
  const int n = 3000;
  for (uint64_t i = 0; i < n; ++i) {
    const std::vector<int32_t> s = task.sequence(BbSplit::kVal, i, length);
    const std::vector<int32_t> x(s.begin() + 1, s.end());
    const double l = -std::log(probability(task, x)) / length;
    nats += l, sq += l * l;
  }
  const double mean = nats / n, se = std::sqrt((sq / n - mean * mean) / n);
  EXPECT_NEAR(mean, task.optimal_loss(length), 4 * se);
}

TEST(BigramBackcopy, OptimalNatsOfASequenceAreItsNegativeLogProbability) {
  const BigramBackcopy task(small(20, 3, 9));
  for (uint64_t i = 0; i < 50; ++i) {
    const std::vector<int32_t> s = task.sequence(BbSplit::kVal, i, 40);
    const std::vector<int32_t> x(s.begin() + 1, s.end());
    EXPECT_NEAR(task.optimal_nats(s), -std::log(probability(task, x)), 1e-9);
  }
}

TEST(BigramBackcopy, RefusesOptionsThatMakeNoTask) {
  for (auto [vocab, triggers] : {std::pair{2, 1}, {8, 7}, {8, 0}}) {
    try {
      BigramBackcopy task(small(vocab, triggers));
      ADD_FAILURE() << vocab << " / " << triggers << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kConfig);
      EXPECT_NE(std::string(e.what()).find("data.bigram_backcopy"), std::string::npos) << e.what();
    }
  }
}

TEST(BigramBackcopyLoader, RowsAreSequencesWithShiftedTargetsAndTheNonTriggerDomain) {
  auto task = std::make_shared<const BigramBackcopy>(small());
  BigramBackcopyLoader l(task, 16, 3, 0, 1);
  const Batch b = l.next();
  ASSERT_EQ(b.rows, 3);
  EXPECT_EQ(b.target_tokens, 48);
  double nats = 0;
  for (uint64_t r = 0; r < 3; ++r)
    nats += task->optimal_nats(task->sequence(BbSplit::kTrain, r, 16));
  EXPECT_DOUBLE_EQ(b.optimal_nats, nats);
  const auto tokens = b.tokens.to_vector<int32_t>(), targets = b.targets.to_vector<int32_t>();
  const auto positions = b.positions.to_vector<int32_t>();
  const auto domain = b.diagnostics_domain.to_vector<int32_t>();
  EXPECT_EQ(b.cu_seqlens.to_vector<int32_t>(), (std::vector<int32_t>{0, 16, 32, 48}));
  for (int64_t r = 0; r < 3; ++r) {
    const std::vector<int32_t> s = task->sequence(BbSplit::kTrain, r, 16);
    for (int64_t t = 0; t < 16; ++t) {
      EXPECT_EQ(tokens[r * 16 + t], s[t]);
      EXPECT_EQ(targets[r * 16 + t], s[t + 1]);
      EXPECT_EQ(positions[r * 16 + t], t);
      EXPECT_EQ(domain[r * 16 + t], task->is_trigger(s[t]) ? 0 : 1);
    }
  }
}

TEST(BigramBackcopyLoader, RanksTakeInterleavedSequencesAndResume) {
  auto task = std::make_shared<const BigramBackcopy>(small());
  BigramBackcopyLoader global(task, 8, 4, 0, 1);
  BigramBackcopyLoader r0(task, 8, 2, 0, 2), r1(task, 8, 2, 1, 2);
  global.next();
  r0.next(), r1.next();
  const auto g = global.next().tokens.to_vector<int32_t>();
  const auto a = r0.next().tokens.to_vector<int32_t>(), b = r1.next().tokens.to_vector<int32_t>();
  for (int t = 0; t < 8; ++t) {
    EXPECT_EQ(a[t], g[t]);           // global row 0
    EXPECT_EQ(b[t], g[8 + t]);       // global row 1
    EXPECT_EQ(a[8 + t], g[16 + t]);  // global row 2
    EXPECT_EQ(b[8 + t], g[24 + t]);  // global row 3
  }
  EXPECT_EQ(r0.state(), global.state());
  BigramBackcopyLoader resumed(task, 8, 4, 0, 1);
  resumed.restore(global.state());
  EXPECT_EQ(resumed.next().tokens.to_vector<int32_t>(), global.next().tokens.to_vector<int32_t>());
  EXPECT_THROW(resumed.restore(LoaderState{1, 0}), Error);
}

TEST(BigramBackcopyLoader, EvaluationMakesOnePassAndPads) {
  auto task = std::make_shared<const BigramBackcopy>(small());
  BigramBackcopyLoader l = BigramBackcopyLoader::eval(task, 8, 4, 0, 1, 6);
  ASSERT_TRUE(l.has_next());
  EXPECT_EQ(l.next().target_tokens, 32);
  ASSERT_TRUE(l.has_next());
  const Batch last = l.next();
  EXPECT_EQ(last.target_tokens, 16);  // sequences 4 and 5, then two padding rows
  EXPECT_EQ(last.tokens.to_vector<int32_t>()[0], task->sequence(BbSplit::kVal, 4, 8)[0]);
  EXPECT_FALSE(l.has_next());
}

}  // namespace
}  // namespace attn
