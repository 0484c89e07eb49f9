#include "recipes/data/synthetic/synthetic_task.h"

#include <fmt/format.h>

#include <algorithm>

#include "framework/core/error.h"
#include "framework/rng/philox.h"
#include "recipes/data/synthetic/task_common.h"
#include "recipes/data/token_shard.h"

namespace attn {

namespace synthetic {

namespace {

constexpr const char* kFiller[] = {"The grass is green. ", "The sky is blue. ",
                                   "The sun is yellow. ", "Here we go. ", "There and back again. "};
constexpr uint64_t kTaskStream = 0x53594e54;  // "SYNT"

}  // namespace

TaskRng::TaskRng(const SyntheticOptions& o, DataSplit split, uint64_t index)
    : seed_(o.seed),
      stream_(rng_stream(
          kTaskStream, static_cast<uint64_t>(o.task) * 4 + static_cast<uint64_t>(split), index)) {}

uint64_t TaskRng::next() {
  const PhiloxBlock r = philox4x32(seed_, stream_, counter_++);
  return (static_cast<uint64_t>(r[0]) << 32) | r[1];
}

uint64_t TaskRng::below(uint64_t n) {
  return next() % n;  // bias below 2^-40 for the small n used here
}

std::string hex_in_split(TaskRng& rng, int digits, DataSplit split) {
  for (;;) {
    std::string s;
    for (int i = 0; i < digits; ++i) s += "0123456789abcdef"[rng.below(16)];
    if (split_of(s) == split) return s;
  }
}

std::vector<std::string> filler_sentences(TaskRng& rng, int64_t budget) {
  std::vector<std::string> out;
  constexpr size_t n = sizeof(kFiller) / sizeof(kFiller[0]);
  for (size_t i = rng.below(n);; ++i) {
    const std::string s = kFiller[i % n];
    if (static_cast<int64_t>(s.size()) > budget) return out;
    budget -= static_cast<int64_t>(s.size());
    out.push_back(s);
  }
}

std::vector<std::string> haystack_sentences(TaskRng& rng, const Haystack& h, int64_t budget) {
  std::vector<std::string> out;
  const std::string& t = h.text;
  size_t pos = t.find(". ", rng.below(t.size()));
  pos = pos == std::string::npos ? 0 : pos + 2;
  for (size_t taken = 0; taken < t.size();) {
    size_t end = t.find(". ", pos);
    end = end == std::string::npos ? t.size() : end + 2;
    const std::string s = t.substr(pos, end - pos);
    if (static_cast<int64_t>(s.size()) > budget) break;
    budget -= static_cast<int64_t>(s.size());
    out.push_back(s);
    taken += s.size();
    pos = end >= t.size() ? 0 : end;
  }
  return out;
}

std::string hide(TaskRng& rng, const std::vector<std::string>& sentences,
                 const std::vector<std::string>& items) {
  std::vector<size_t> at(items.size());
  for (size_t& a : at) a = rng.below(sentences.size() + 1);
  std::sort(at.begin(), at.end());
  std::string out;
  size_t item = 0;
  for (size_t s = 0; s <= sentences.size(); ++s) {
    while (item < items.size() && at[item] == s) out += items[item++];
    if (s < sentences.size()) out += sentences[s];
  }
  return out;
}

int64_t total_size(const std::vector<std::string>& parts) {
  int64_t n = 0;
  for (const std::string& p : parts) n += static_cast<int64_t>(p.size());
  return n;
}

int64_t filler_budget(const SyntheticOptions& o, int64_t fixed_bytes, const char* what) {
  if (fixed_bytes > o.length)
    throw Error(ErrorKind::kConfig, "data.synthetic.length",
                fmt::format("{} bytes cannot hold {} ({} bytes)", o.length, what, fixed_bytes));
  return o.length - fixed_bytes;
}

SftExample make_example(const std::string& context, const std::string& response, const char* task,
                        const std::string& answer, DataSplit split) {
  SftExample e;
  e.runs = {{RunRole::kContext, context}, {RunRole::kResponse, response}};
  e.meta = {{"task", task}, {"answer", answer}, {"split", split_name(split)}};
  return e;
}

}  // namespace synthetic

DataSplit split_of(const std::string& item) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : item) h = (h ^ c) * 1099511628211ull;
  const uint64_t bucket = h % 10;
  return bucket < 8 ? DataSplit::kTrain : bucket == 8 ? DataSplit::kVal : DataSplit::kTest;
}

Haystack read_haystack(const std::string& shard_path) {
  const TokenShard shard = read_token_shard(shard_path);
  if (shard.vocab_size != 256)
    throw Error(
        ErrorKind::kInput, shard_path,
        fmt::format("a haystack is byte-level text; this shard has {} symbols", shard.vocab_size));
  Haystack h;
  h.text.reserve(shard.tokens.size() + shard.num_docs());
  for (size_t d = 0; d < shard.num_docs(); ++d) {
    if (d > 0) h.text += ' ';
    for (uint64_t i = shard.doc_offsets[d]; i < shard.doc_offsets[d + 1]; ++i)
      h.text += static_cast<char>(shard.tokens[i]);
  }
  return h;
}

const char* split_name(DataSplit split) {
  return split == DataSplit::kTrain ? "train" : split == DataSplit::kVal ? "val" : "test";
}

SftExample generate_example(const SyntheticOptions& o, DataSplit split, uint64_t index,
                            const Haystack* haystack) {
  using S = attnlab::config::Synthetic;
  synthetic::TaskRng rng(o, split, index);
  switch (o.task) {
    case S::PASSKEY:
      return synthetic::passkey(o, split, rng);
    case S::KV_RETRIEVAL:
      return synthetic::kv_retrieval(o, split, rng);
    case S::ASSOCIATIVE_RECALL:
      return synthetic::associative_recall(o, split, rng);
    case S::NEEDLE_QA:
      if (!haystack || haystack->text.size() < 1024)
        throw Error(ErrorKind::kConfig, "data.synthetic.task",
                    "NEEDLE_QA hides its facts in haystack text: give at least 1 KB (the Brown "
                    "corpus: `attnlab data brown`)");
      return synthetic::needle_qa(o, split, rng, *haystack);
    default:
      throw Error(ErrorKind::kConfig, "data.synthetic.task",
                  fmt::format("no generator for task {}", S::Task_Name(o.task)));
  }
}

std::string check_example(const SyntheticOptions& o, const SftExample& e) {
  using S = attnlab::config::Synthetic;
  if (e.runs.size() != 2 || e.runs[0].role != RunRole::kContext ||
      e.runs[1].role != RunRole::kResponse)
    return "expected one context run and one response run";
  switch (o.task) {
    case S::PASSKEY:
      return synthetic::check_passkey(e);
    case S::KV_RETRIEVAL:
      return synthetic::check_kv_retrieval(e);
    case S::ASSOCIATIVE_RECALL:
      return synthetic::check_associative_recall(e);
    case S::NEEDLE_QA:
      return synthetic::check_needle_qa(e);
    default:
      return "no checker for this task";
  }
}

}  // namespace attn
