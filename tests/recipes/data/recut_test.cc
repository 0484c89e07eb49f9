// Re-cutting a shard into other document lengths keeps every token in order and each piece's
// label from the document it starts in.
#include <gtest/gtest.h>

#include "recipes/data/recut.h"

namespace attn {
namespace {

TEST(RecutDocuments, KeepsTokensInOrderAndLabelsWhereEachPieceStarts) {
  TokenShard s;
  s.vocab_size = 100;
  append_document(s, {1, 2, 3}, 7);
  append_document(s, {4, 5, 6, 7, 8}, 9);
  const std::vector<int64_t> lengths{2, 4, 5};
  size_t i = 0;
  const TokenShard r = recut_documents(s, [&] { return lengths[i++]; });
  EXPECT_EQ(r.tokens, s.tokens);
  EXPECT_EQ(r.doc_offsets, (std::vector<uint64_t>{0, 2, 6, 8}));  // the last piece is what is left
  EXPECT_EQ(r.labels, (std::vector<uint16_t>{7, 7, 9}));
  EXPECT_EQ(i, 3u);
  TokenShard none;
  none.vocab_size = 100;
  const TokenShard empty = recut_documents(none, [] { return int64_t{3}; });
  EXPECT_EQ(empty.num_docs(), 0u);
}

}  // namespace
}  // namespace attn
