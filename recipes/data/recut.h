// Re-cuts a shard's documents to other lengths: the long-tailed document mixes CAD balances
// (`attnlab data longdoc`), made from a real corpus's text.
#pragma once

#include <cstdint>
#include <functional>

#include "recipes/data/token_shard.h"

namespace attn {

// The shard's tokens, in order, cut into documents of the lengths next_length() draws (>= 1;
// the last one is what is left); a piece keeps the label of the document its first token is in.
TokenShard recut_documents(const TokenShard& shard, const std::function<int64_t()>& next_length);

}  // namespace attn
