#include "tests/recipes/support/word_corpus.h"

#include <vector>

#include "framework/rng/philox.h"

namespace attn::test {

TokenShard word_corpus(uint64_t seed, int docs) {
  TokenShard s;
  s.vocab_size = 256;
  for (int d = 0; d < docs; ++d) {
    std::vector<int32_t> t;
    const int len = 20 + static_cast<int>(philox4x32(seed, d, 0)[0] % 60);
    for (int i = 0; i < len; ++i) {
      const uint32_t r = philox4x32(seed, d, i + 1)[0];
      t.push_back(r % 5 == 0 ? ' ' : 'a' + static_cast<int32_t>(r % 7));
    }
    append_document(s, t, static_cast<uint16_t>(d % 3));
  }
  return s;
}

}  // namespace attn::test
