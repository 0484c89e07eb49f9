// Shared pieces of the synthetic task generators (synthetic_task.cc): the per-example random
// stream, split-restricted draws and hiding items at random depths of filler sentences.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "recipes/data/synthetic/synthetic_task.h"

namespace attn::synthetic {

// Draws of one example: Philox on (seed, stream(task, split, index), counter).
class TaskRng {
 public:
  TaskRng(const SyntheticOptions& o, DataSplit split, uint64_t index);
  uint64_t next();
  uint64_t below(uint64_t n);  // uniform in [0, n), n > 0
 private:
  uint64_t seed_, stream_, counter_ = 0;
};

// n lowercase hex digits whose split_of() is `split` (rejection sampling).
std::string hex_in_split(TaskRng& rng, int digits, DataSplit split);

// Sentences of the fixed filler ("The grass is green. ..."), cycled from a random start, as many
// as fit in `budget` bytes.
std::vector<std::string> filler_sentences(TaskRng& rng, int64_t budget);

// Sentences (cut after ". ") of the haystack from a random start, wrapping, within `budget`.
std::vector<std::string> haystack_sentences(TaskRng& rng, const Haystack& haystack, int64_t budget);

// The sentences with `items` inserted, in their order, at random sentence boundaries.
std::string hide(TaskRng& rng, const std::vector<std::string>& sentences,
                 const std::vector<std::string>& items);

// Bytes of the strings together.
int64_t total_size(const std::vector<std::string>& parts);

// The filler budget of an example, or kConfig at data.synthetic.length when the fixed parts
// alone do not fit.
int64_t filler_budget(const SyntheticOptions& o, int64_t fixed_bytes, const char* what);

SftExample make_example(const std::string& context, const std::string& response, const char* task,
                        const std::string& answer, DataSplit split);

// Per task: examples and their checks (retrieval_tasks.cc, needle_qa.cc).
SftExample passkey(const SyntheticOptions& o, DataSplit split, TaskRng& rng);
SftExample kv_retrieval(const SyntheticOptions& o, DataSplit split, TaskRng& rng);
SftExample associative_recall(const SyntheticOptions& o, DataSplit split, TaskRng& rng);
SftExample needle_qa(const SyntheticOptions& o, DataSplit split, TaskRng& rng,
                     const Haystack& haystack);
std::string check_passkey(const SftExample& e);
std::string check_kv_retrieval(const SftExample& e);
std::string check_associative_recall(const SftExample& e);
std::string check_needle_qa(const SftExample& e);

}  // namespace attn::synthetic
