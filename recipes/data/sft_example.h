// Supervised fine-tuning examples: runs of text with a role each. The loss is taken on response
// runs only; the runs become the batch's segment mask (context bidirectional inside its run,
// responses causal). On disk: JSONL, one example per line (docs/data-format.md):
//   {"runs": [{"role": "context", "text": "..."}, {"role": "response", "text": "..."}],
//    "meta": {"task": "passkey", "answer": "48213"}}
// "meta" is optional (strings only) and ignored by training; generators record what a checker
// needs there.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace attn {

enum class RunRole { kContext, kResponse };

struct SftRun {
  RunRole role = RunRole::kContext;
  std::string text;
};

struct SftExample {
  std::vector<SftRun> runs;
  std::map<std::string, std::string> meta;
  std::string where;  // "path:line" when read from a file (for errors about the example)

  // The concatenated text of all runs of one role, in order.
  std::string text_of(RunRole role) const;
  size_t size() const;  // bytes over all runs
};

// One JSONL line (no newline). Parsing is strict: unknown keys, a missing or empty "runs", an
// unknown role, non-string text or meta values are errors (kInput) located at `where`
// ("path:line").
std::string to_jsonl_line(const SftExample& example);
SftExample parse_sft_line(std::string_view line, const std::string& where);

// Whole files; writing is atomic (temporary file, then rename). Blank lines are skipped.
void write_sft_jsonl(const std::string& path, const std::vector<SftExample>& examples);
std::vector<SftExample> read_sft_jsonl(const std::string& path);

}  // namespace attn
