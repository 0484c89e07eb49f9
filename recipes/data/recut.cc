#include "recipes/data/recut.h"

#include <algorithm>

#include "framework/core/error.h"

namespace attn {

TokenShard recut_documents(const TokenShard& shard, const std::function<int64_t()>& next_length) {
  TokenShard out;
  out.vocab_size = shard.vocab_size;
  out.doc_offsets.push_back(0);
  const int64_t total = static_cast<int64_t>(shard.tokens.size());
  out.tokens = shard.tokens;
  size_t doc = 0;  // the source document holding token `at`
  for (int64_t at = 0; at < total;) {
    const int64_t want = next_length();
    if (want < 1) ATTN_FAIL(kInternal, "recut_documents: a document length of {}", want);
    while (doc + 1 < shard.num_docs() && shard.doc_offsets[doc + 1] <= static_cast<uint64_t>(at))
      ++doc;
    out.labels.push_back(shard.num_docs() > 0 ? shard.labels[doc] : kNoLabel);
    at = std::min(total, at + want);
    out.doc_offsets.push_back(static_cast<uint64_t>(at));
  }
  validate_token_shard(out, "re-cut shard");
  return out;
}

}  // namespace attn
