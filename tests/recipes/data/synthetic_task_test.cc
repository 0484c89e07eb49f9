// Synthetic long-context tasks (recipes/data/synthetic/): deterministic for a seed, every example
// answerable from its context (the task's checker), within its length, keys and facts disjoint
// across splits, and clear errors for options that cannot produce an example.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "framework/core/error.h"
#include "framework/io/file_util.h"
#include "recipes/data/sft_example.h"
#include "recipes/data/synthetic/synthetic_task.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

using Task = attnlab::config::Synthetic;

// Prose-like haystack: sentences of words, none of them a fact of the needle task.
Haystack test_haystack() {
  const char* words[] = {"the",   "river",  "quietly", "crossed", "old", "market", "town",
                         "where", "people", "sold",    "bread",   "and", "wine",   "daily"};
  Haystack h;
  uint64_t x = 12345;
  for (int s = 0; s < 400; ++s) {
    const int n = 4 + static_cast<int>(x % 9);
    for (int w = 0; w < n; ++w) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      h.text += words[(x >> 33) % 14];
      h.text += w + 1 < n ? " " : ". ";
    }
  }
  return h;
}

SyntheticOptions options(Task::Task task, int64_t length) {
  SyntheticOptions o;
  o.task = task;
  o.seed = 7;
  o.length = length;
  o.num_pairs = 4;
  o.num_queries = 3;
  o.num_distractors = 3;
  return o;
}

const Task::Task kTasks[] = {Task::PASSKEY, Task::KV_RETRIEVAL, Task::ASSOCIATIVE_RECALL,
                             Task::NEEDLE_QA};

TEST(SyntheticTasks, DeterministicForASeedAndDifferentAcrossIndices) {
  const Haystack h = test_haystack();
  for (Task::Task t : kTasks) {
    SCOPED_TRACE(Task::Task_Name(t));
    const SyntheticOptions o = options(t, 1024);
    const std::string a = to_jsonl_line(generate_example(o, DataSplit::kTrain, 3, &h));
    EXPECT_EQ(a, to_jsonl_line(generate_example(o, DataSplit::kTrain, 3, &h)));
    EXPECT_NE(a, to_jsonl_line(generate_example(o, DataSplit::kTrain, 4, &h)));
    SyntheticOptions other = o;
    other.seed = 8;
    EXPECT_NE(a, to_jsonl_line(generate_example(other, DataSplit::kTrain, 3, &h)));
  }
}

TEST(SyntheticTasks, EveryExampleIsAnswerableFromItsContextAndFitsItsLength) {
  const Haystack h = test_haystack();
  for (Task::Task t : kTasks)
    for (int64_t length : {256, 1024, 8192}) {
      SCOPED_TRACE(std::string(Task::Task_Name(t)) + " " + std::to_string(length));
      const SyntheticOptions o = options(t, length);
      for (DataSplit split : {DataSplit::kTrain, DataSplit::kVal, DataSplit::kTest})
        for (uint64_t i = 0; i < 25; ++i) {
          const SftExample e = generate_example(o, split, i, &h);
          ASSERT_EQ(check_example(o, e), "") << to_jsonl_line(e);
          EXPECT_LE(static_cast<int64_t>(e.size()), length);
          // Fillers come in sentences of at most 22 bytes; haystack sentences here of 100.
          EXPECT_GE(static_cast<int64_t>(e.size()), length - (t == Task::NEEDLE_QA ? 100 : 22));
          EXPECT_EQ(e.meta.at("split"), split_name(split));
        }
    }
}

TEST(SyntheticTasks, TheCheckerRejectsAWrongAnswerOrAMissingItem) {
  const Haystack h = test_haystack();
  for (Task::Task t : kTasks) {
    SCOPED_TRACE(Task::Task_Name(t));
    const SyntheticOptions o = options(t, 1024);
    SftExample e = generate_example(o, DataSplit::kTrain, 0, &h);
    SftExample wrong = e;
    wrong.runs[1].text = " 1234.";
    EXPECT_NE(check_example(o, wrong), "");
    SftExample cut = e;  // the context without its first half, where items may hide
    cut.runs[0].text = "nothing here.\n" + cut.runs[0].text.substr(cut.runs[0].text.rfind('\n'));
    EXPECT_NE(check_example(o, cut), "");
  }
}

// The split of a key follows from the key alone, so no key or fact crosses splits.
TEST(SyntheticTasks, SplitsShareNoKeyOrFact) {
  const Haystack h = test_haystack();
  for (Task::Task t : kTasks) {
    SCOPED_TRACE(Task::Task_Name(t));
    const SyntheticOptions o = options(t, 512);
    std::set<std::string> seen[3];
    for (int s = 0; s < 3; ++s)
      for (uint64_t i = 0; i < 60; ++i) {
        const SftExample e = generate_example(o, static_cast<DataSplit>(s), i, &h);
        seen[s].insert(e.meta.at("answer"));
        if (t != Task::NEEDLE_QA) {  // the answer is itself a key (passkey) or value
          std::string word;
          for (char c : e.meta.at("answer") + " ") {
            if (c != ' ') {
              word += c;
            } else {
              EXPECT_EQ(split_of(word), static_cast<DataSplit>(s)) << word;
              word.clear();
            }
          }
        }
      }
    if (t != Task::NEEDLE_QA) {
      for (int a = 0; a < 3; ++a)
        for (int b = a + 1; b < 3; ++b)
          for (const std::string& x : seen[a]) EXPECT_EQ(seen[b].count(x), 0u) << x;
    }
  }
}

TEST(SyntheticTasks, OptionsThatCannotProduceAnExampleAreRefused) {
  const Haystack h = test_haystack();
  auto expect_config = [&](const SyntheticOptions& o, const Haystack* hs,
                           const std::string& where) {
    try {
      generate_example(o, DataSplit::kTrain, 0, hs);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kConfig);
      EXPECT_EQ(e.where(), where) << e.message();
    }
  };
  expect_config(options(Task::KV_RETRIEVAL, 100), &h, "data.synthetic.length");
  SyntheticOptions too_many = options(Task::ASSOCIATIVE_RECALL, 1024);
  too_many.num_queries = 5;
  expect_config(too_many, &h, "data.synthetic.num_queries");
  expect_config(options(Task::NEEDLE_QA, 1024), nullptr, "data.synthetic.task");
}

TEST(SftJsonl, RoundTripsAndReportsBadLinesWithPathAndLine) {
  const std::filesystem::path dir = test::fresh_temp_dir("sft");
  const std::string path = (dir / "x.jsonl").string();
  SftExample e;
  e.runs = {{RunRole::kContext, "Question \"quoted\"\n"}, {RunRole::kResponse, " answer"}};
  e.meta = {{"task", "t"}};
  write_sft_jsonl(path, {e, e});
  const std::vector<SftExample> back = read_sft_jsonl(path);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].runs[0].text, e.runs[0].text);
  EXPECT_EQ(back[1].runs[1].role, RunRole::kResponse);
  EXPECT_EQ(back[1].meta, e.meta);
  EXPECT_EQ(back[0].text_of(RunRole::kResponse), " answer");

  const std::string good = to_jsonl_line(e);
  const std::pair<std::string, std::string> bad[] = {
      {"{not json", "not valid JSON"},
      {"[1, 2]", "JSON object"},
      {R"({"runs": []})", "non-empty array"},
      {R"({"runs": [{"role": "system", "text": "x"}]})", "\"context\" or \"response\""},
      {R"({"runs": [{"role": "context", "text": 3}]})", "text must be a string"},
      {R"({"runs": [{"role": "context", "text": "x", "extra": 1}]})", "nothing else"},
      {R"({"runs": [{"role": "context", "text": "x"}], "labels": 1})", "unknown key \"labels\""},
      {R"({"runs": [{"role": "context", "text": "x"}], "meta": {"a": 1}})", "meta.a"}};
  for (const auto& [line, phrase] : bad) {
    write_file_atomic(path, good + "\n\n" + line + "\n");
    try {
      read_sft_jsonl(path);
      ADD_FAILURE() << line << " was accepted";
    } catch (const Error& err) {
      EXPECT_EQ(err.where(), path + ":3") << line;
      EXPECT_NE(err.message().find(phrase), std::string::npos) << err.message();
      EXPECT_EQ(err.exit_code(), 2);
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace attn
