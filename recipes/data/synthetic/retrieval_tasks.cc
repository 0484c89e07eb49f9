// PASSKEY, KV_RETRIEVAL and ASSOCIATIVE_RECALL: items of random hex (or digits) hidden in the
// fixed filler, and their checkers, which re-read the items from the context text.
#include <fmt/format.h>

#include <map>
#include <set>

#include "framework/core/error.h"
#include "recipes/data/synthetic/task_common.h"

namespace attn::synthetic {

namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

// Every occurrence of `before` HEX `middle` HEX `after` in text (fixed hex widths): the pairs.
std::vector<std::pair<std::string, std::string>> find_pairs(const std::string& text,
                                                            const std::string& before, int w1,
                                                            const std::string& middle, int w2,
                                                            const std::string& after) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t at = text.find(before); at != std::string::npos; at = text.find(before, at + 1)) {
    size_t p = at + before.size();
    auto hex_run = [&](int w) {
      if (p + w > text.size()) return std::string();
      for (int i = 0; i < w; ++i)
        if (!is_hex(text[p + i])) return std::string();
      std::string s = text.substr(p, w);
      p += w;
      return s;
    };
    const std::string a = hex_run(w1);
    if (a.empty() || text.compare(p, middle.size(), middle) != 0) continue;
    p += middle.size();
    const std::string b = hex_run(w2);
    if (b.empty() || text.compare(p, after.size(), after) != 0) continue;
    out.emplace_back(a, b);
  }
  return out;
}

// num_pairs distinct keys with their values, every one of `split`.
std::vector<std::pair<std::string, std::string>> draw_pairs(TaskRng& rng, int n, int digits,
                                                            DataSplit split) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::set<std::string> keys;
  while (static_cast<int>(pairs.size()) < n) {
    std::string k = hex_in_split(rng, digits, split);
    if (!keys.insert(k).second) continue;
    pairs.emplace_back(k, hex_in_split(rng, digits, split));
  }
  return pairs;
}

std::string context_of(const SftExample& e) {
  return e.runs[0].text;
}

}  // namespace

SftExample passkey(const SyntheticOptions& o, DataSplit split, TaskRng& rng) {
  std::string key;
  do key = std::to_string(10000 + rng.below(90000));
  while (split_of(key) != split);
  const std::string item =
      fmt::format("The pass key is {0}. Remember it. {0} is the pass key. ", key);
  const std::string question = "\nWhat is the pass key? The pass key is";
  const std::string response = " " + key + ".";
  const int64_t budget =
      filler_budget(o, total_size({item, question, response}), "the pass key and its question");
  const std::string context = hide(rng, filler_sentences(rng, budget), {item}) + question;
  return make_example(context, response, "passkey", key, split);
}

std::string check_passkey(const SftExample& e) {
  // Every "The pass key is DDDDD." of the context; the question repeats the phrase without one.
  const std::string c = context_of(e), marker = "The pass key is ";
  std::vector<std::string> keys;
  for (size_t at = c.find(marker); at != std::string::npos; at = c.find(marker, at + 1)) {
    const std::string digits = c.substr(at + marker.size(), 6);
    if (digits.size() == 6 && digits[5] == '.' &&
        digits.substr(0, 5).find_first_not_of("0123456789") == std::string::npos)
      keys.push_back(digits.substr(0, 5));
  }
  if (keys.size() != 1) return fmt::format("{} pass keys in the context", keys.size());
  return e.runs[1].text == " " + keys[0] + "." ? "" : "the response is not the pass key " + keys[0];
}

SftExample kv_retrieval(const SyntheticOptions& o, DataSplit split, TaskRng& rng) {
  const auto pairs = draw_pairs(rng, o.num_pairs, 8, split);
  std::vector<std::string> items;
  for (const auto& [k, v] : pairs) items.push_back(fmt::format("Key {} has value {}. ", k, v));
  const auto& [key, value] = pairs[rng.below(pairs.size())];
  const std::string question =
      fmt::format("\nWhat is the value of key {0}? The value of key {0} is", key);
  const std::string response = " " + value + ".";
  const int64_t budget = filler_budget(o, total_size(items) + total_size({question, response}),
                                       "data.synthetic.num_pairs pairs and the question");
  const std::string context = hide(rng, filler_sentences(rng, budget), items) + question;
  return make_example(context, response, "kv_retrieval", value, split);
}

std::string check_kv_retrieval(const SftExample& e) {
  const std::string c = context_of(e);
  std::map<std::string, std::string> table;
  for (const auto& [k, v] : find_pairs(c, "Key ", 8, " has value ", 8, ". "))
    if (!table.emplace(k, v).second) return "key " + k + " appears twice";
  const std::string q = "What is the value of key ";
  const size_t at = c.rfind(q);
  if (at == std::string::npos) return "no question";
  const std::string key = c.substr(at + q.size(), 8);
  const auto it = table.find(key);
  if (it == table.end()) return "the asked key " + key + " is not in the context";
  return e.runs[1].text == " " + it->second + "." ? "" : "the response is not " + it->second;
}

SftExample associative_recall(const SyntheticOptions& o, DataSplit split, TaskRng& rng) {
  if (o.num_queries > o.num_pairs)
    throw Error(ErrorKind::kConfig, "data.synthetic.num_queries",
                fmt::format("{} queries of {} pairs: keys are asked once each", o.num_queries,
                            o.num_pairs));
  auto pairs = draw_pairs(rng, o.num_pairs, 6, split);
  std::vector<std::string> items;
  for (const auto& [k, v] : pairs) items.push_back(fmt::format("{}={}. ", k, v));
  // num_queries distinct pairs, in random order (a partial Fisher-Yates over the pairs).
  std::string question = "\nRecall:", response, answer;
  for (int q = 0; q < o.num_queries; ++q) {
    std::swap(pairs[q], pairs[q + rng.below(pairs.size() - q)]);
    question += " " + pairs[q].first;
    response += " " + pairs[q].second;
  }
  question += "\nValues:";
  const int64_t budget = filler_budget(o, total_size(items) + total_size({question, response}),
                                       "data.synthetic.num_pairs pairs and the queries");
  const std::string context = hide(rng, filler_sentences(rng, budget), items) + question;
  return make_example(context, response, "associative_recall", response.substr(1), split);
}

std::string check_associative_recall(const SftExample& e) {
  const std::string c = context_of(e);
  std::map<std::string, std::string> table;
  for (const auto& [k, v] : find_pairs(c, "", 6, "=", 6, ". "))
    if (!table.emplace(k, v).second) return "key " + k + " appears twice";
  const size_t at = c.rfind("\nRecall:"), end = c.rfind("\nValues:");
  if (at == std::string::npos || end == std::string::npos || end < at) return "no queries";
  std::string want;
  for (size_t p = at + 8; p + 7 <= end; p += 7) {
    const auto it = table.find(c.substr(p + 1, 6));
    if (it == table.end()) return "query " + c.substr(p + 1, 6) + " is not in the context";
    want += " " + it->second;
  }
  return e.runs[1].text == want ? "" : "the response is not" + want;
}

}  // namespace attn::synthetic
