// Synthetic long-context tasks (data.synthetic), generated deterministically: example i of a
// split depends only on (seed, task, split, i) and the options. Each example is an SFT example
// (context = haystack with the task's items + the question, response = the answer), so the same
// data serves LM pretraining on whole sequences and response-only fine-tuning.
//   PASSKEY             a 5-digit pass key hidden at a random depth of filler text
//   KV_RETRIEVAL        num_pairs "key -> value" pairs of 8 hex digits in filler; one is asked
//   ASSOCIATIVE_RECALL  num_pairs pairs in filler, then num_queries keys; the values in order
//   NEEDLE_QA           bAbI-style supporting facts (someone takes an object, then goes to 1-2
//                       places) and num_distractors facts about other people, hidden in
//                       haystack text (Brown documents); "Where is the <object>?"
// Keys, pass keys and fact triples are assigned to splits by a hash, so train, val and test
// never share one (disjoint facts/keys). `length` bounds each example's bytes (context and
// response); examples come within one filler sentence or haystack slice of it.
#pragma once

#include <cstdint>
#include <string>

#include "framework/config/recipe_loader.h"
#include "recipes/data/sft_example.h"

namespace attn {

enum class DataSplit { kTrain, kVal, kTest };

using SyntheticTask = attnlab::config::Synthetic::Task;

struct SyntheticOptions {
  SyntheticTask task = attnlab::config::Synthetic::PASSKEY;
  uint64_t seed = 1;
  int64_t length = 1024;  // bytes per example, at most
  int num_pairs = 16;
  int num_queries = 4;
  int num_distractors = 8;
};

// Text the needle task hides its facts in (other tasks use a fixed filler). Sentences are cut at
// ". "; at least a few kilobytes are needed for examples of a few kilobytes.
struct Haystack {
  std::string text;
};

// The documents of a byte-level token shard (`attnlab data brown`: train.bin, val.bin) joined by
// spaces. kInput when the shard is not byte-level.
Haystack read_haystack(const std::string& shard_path);

// Throws kConfig naming the option when the options cannot produce an example (length too short
// for the items, a task without a generator, a needle task without haystack).
SftExample generate_example(const SyntheticOptions& options, DataSplit split, uint64_t index,
                            const Haystack* haystack = nullptr);

// "" when the example's answer follows from its context alone (the checker re-derives it with
// the task's own rules, never from meta), else what is wrong.
std::string check_example(const SyntheticOptions& options, const SftExample& example);

// The split a key, pass key or fact belongs to (80% train, 10% val, 10% test).
DataSplit split_of(const std::string& item);

const char* split_name(DataSplit split);

}  // namespace attn
