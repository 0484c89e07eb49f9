// A small learnable byte corpus for end-to-end training tests: documents of "words" over a
// seven-letter alphabet, deterministic from a seed (no network, no Brown download).
#pragma once

#include <cstdint>

#include "recipes/data/token_shard.h"

namespace attn::test {

// `docs` documents of 20-79 bytes, genre labels cycling 0, 1, 2.
TokenShard word_corpus(uint64_t seed, int docs);

}  // namespace attn::test
