// Tokenizers: byte and BPE round trips on arbitrary bytes (invalid UTF-8 included), a small
// BPE worked by hand, deterministic training, chunking, bpe.json validation, `data bpe`.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include <unistd.h>

#include "framework/core/error.h"
#include "framework/io/file_util.h"
#include "recipes/data/bpe.h"
#include "recipes/data/bpe_prepare.h"
#include "recipes/data/token_shard.h"
#include "recipes/data/tokenizer.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {
namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
  return test::fresh_temp_dir("tok_" + name).string();
}

std::string random_bytes(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

const char* kText =
    "the cat sat on the mat. the cat ate the rat!\n\nThe 1961 jury said:  \"no, the rat.\" "
    "Caf\xc3\xa9 na\xc3\xafve \xff\xfe broken \xc3 utf-8\ttab  end ";

TEST(ByteTokenizer, RoundTripsAnyBytes) {
  ByteTokenizer t;
  std::mt19937 rng(1);
  const std::string s = random_bytes(rng, 1000);
  const std::vector<int32_t> ids = t.encode(s);
  ASSERT_EQ(ids.size(), s.size());
  EXPECT_EQ(ids[0], static_cast<unsigned char>(s[0]));
  EXPECT_EQ(t.decode(ids), s);
  EXPECT_THROW(t.decode({65, 256}), Error);
  EXPECT_THROW(t.decode({-1}), Error);
}

TEST(Bpe, ChunksCoverTextAndSplitWords) {
  const std::string text = "the cat,  sat\n\n 42x";
  const std::vector<std::string_view> chunks = bpe_chunks(text);
  std::string joined;
  for (auto c : chunks) joined += c;
  EXPECT_EQ(joined, text);
  const std::vector<std::string_view> expect = {"the",  " cat", ",",   " ",
                                                " sat", "\n\n", " 42", "x"};
  EXPECT_EQ(chunks, expect);
}

TEST(Bpe, SmallKnownExample) {
  // Chunks "aaab" and " aab"; adjacent pairs: (a,a) 3 times, (a,b) 2, (' ',a) 1.
  const std::vector<std::string_view> texts = {"aaab aab"};
  const std::vector<BpeMerge> merges = train_bpe(texts, 259);
  ASSERT_EQ(merges.size(), 3u);
  EXPECT_EQ(merges[0], (BpeMerge{'a', 'a'}));
  // After it: "aaab" -> [256, a, b], " aab" -> [' ', 256, b]: (256,a)=1 (a,b)=1 (' ',256)=1
  // (256,b)=1: ties go to the smallest pair, (' ', 256).
  EXPECT_EQ(merges[1], (BpeMerge{' ', 256}));
  BpeTokenizer bpe(merges);
  EXPECT_EQ(bpe.vocab_size(), 259u);
  EXPECT_EQ(bpe.token_bytes(256), "aa");
  EXPECT_EQ(bpe.token_bytes(257), " aa");
  EXPECT_EQ(bpe.encode("aa aa"), (std::vector<int32_t>{256, 257}));
  EXPECT_EQ(bpe.encode("aaa"), (std::vector<int32_t>{256, 'a'}));
}

TEST(BosTokenizer, AddsOneSymbolAfterTheInnerOnesThatDecodesToNothing) {
  BosTokenizer bytes(std::make_unique<ByteTokenizer>());
  EXPECT_EQ(bytes.vocab_size(), 257u);
  EXPECT_EQ(bytes.bos(), 256);
  EXPECT_EQ(bos_of(bytes), 256);
  EXPECT_EQ(bos_of(ByteTokenizer()), -1);
  EXPECT_EQ(bytes.encode("ab"), (std::vector<int32_t>{'a', 'b'}));  // never produces BOS
  EXPECT_EQ(bytes.decode({256, 'a', 256, 'b'}), "ab");
  EXPECT_THROW(bytes.decode({257}), Error);
  // BPE: the special token comes after the merges.
  BosTokenizer bpe(std::make_unique<BpeTokenizer>(train_bpe({"aaab aab"}, 259)));
  EXPECT_EQ(bpe.bos(), 259);
  EXPECT_EQ(bpe.vocab_size(), 260u);
  EXPECT_EQ(bpe.decode({259, 256, 259}), "aa");
}

TEST(SymbolTokenizer, PrintsSymbolsAsCharactersAndRefusesOthers) {
  SymbolTokenizer t(12);
  EXPECT_EQ(t.vocab_size(), 12u);
  EXPECT_EQ(t.decode({0, 1, 11}), "!\",");
  EXPECT_EQ(t.encode("!\","), (std::vector<int32_t>{0, 1, 11}));
  EXPECT_THROW(t.encode("-"), Error);  // symbol 12 does not exist
  EXPECT_THROW(t.decode({12}), Error);
  EXPECT_THROW(SymbolTokenizer(95), Error);
}

TEST(Bpe, OverlappingPairsMergeLeftToRight) {
  // "aaaa" holds (a,a) three times overlapping but merges left to right into [aa, aa], so the
  // counts after the merge must make (aa, aa) the second merge.
  const std::vector<BpeMerge> merges = train_bpe({"aaaa"}, 258);
  EXPECT_EQ(merges[0], (BpeMerge{'a', 'a'}));
  EXPECT_EQ(merges[1], (BpeMerge{256, 256}));
  EXPECT_EQ(BpeTokenizer(merges).encode("aaaa"), (std::vector<int32_t>{257}));
  EXPECT_THROW(train_bpe({"ab"}, 300), Error);  // one pair only
}

TEST(Bpe, DeterministicAndRoundTripsArbitraryBytes) {
  std::mt19937 rng(7);
  std::vector<std::string> docs = {kText, kText + std::string(" and more cats"),
                                   random_bytes(rng, 3000)};
  std::vector<std::string_view> texts(docs.begin(), docs.end());
  const std::vector<BpeMerge> a = train_bpe(texts, 400), b = train_bpe(texts, 400);
  EXPECT_EQ(a, b);
  BpeTokenizer bpe(a);
  for (int trial = 0; trial < 20; ++trial) {
    const std::string s = trial == 0 ? std::string(kText) : random_bytes(rng, 1 + rng() % 500);
    const std::vector<int32_t> ids = bpe.encode(s);
    for (int32_t id : ids) ASSERT_LT(static_cast<uint32_t>(id), bpe.vocab_size());
    EXPECT_EQ(bpe.decode(ids), s);
  }
  EXPECT_LT(bpe.encode(kText).size(), std::string(kText).size() / 2);  // it compresses
  EXPECT_THROW(bpe.decode({400}), Error);
  EXPECT_EQ(bpe.encode(""), std::vector<int32_t>{});
}

TEST(Bpe, EncodingMatchesSequentialMerges) {
  // The rank-ordered encoder must equal applying every merge in training order.
  std::vector<std::string> docs = {kText, "banana bandana an ana nana"};
  std::vector<std::string_view> texts(docs.begin(), docs.end());
  const std::vector<BpeMerge> merges = train_bpe(texts, 320);
  BpeTokenizer bpe(merges);
  for (std::string_view chunk : bpe_chunks(docs[1])) {
    std::vector<int32_t> seq(chunk.begin(), chunk.end());
    for (size_t m = 0; m < merges.size(); ++m) {
      std::vector<int32_t> next;
      for (size_t i = 0; i < seq.size(); ++i) {
        if (i + 1 < seq.size() && seq[i] == merges[m][0] && seq[i + 1] == merges[m][1]) {
          next.push_back(256 + static_cast<int32_t>(m));
          ++i;
        } else {
          next.push_back(seq[i]);
        }
      }
      seq = next;
    }
    EXPECT_EQ(bpe.encode(chunk), seq) << chunk;
  }
}

TEST(Bpe, SaveLoadAndRejectMalformedFiles) {
  const std::string dir = temp_dir("json");
  BpeTokenizer bpe(train_bpe({kText}, 300));
  bpe.save(dir + "/bpe.json");
  BpeTokenizer back = BpeTokenizer::load(dir + "/bpe.json");
  EXPECT_EQ(back.merges(), bpe.merges());
  EXPECT_EQ(load_tokenizer(dir, TokenizerKind::kBpe)->encode(kText), bpe.encode(kText));
  EXPECT_EQ(load_tokenizer(dir, TokenizerKind::kBytes)->vocab_size(), 256u);

  const std::pair<const char*, const char*> bad[] = {
      {"{", "not valid JSON"},
      {R"({"format": "other", "version": 1, "vocab_size": 256, "merges": []})", "not an attnlab"},
      {R"({"format": "attnlab-bpe", "version": 1, "vocab_size": 258, "merges": [[1, 2]]})",
       "vocab_size"},
      {R"({"format": "attnlab-bpe", "version": 1, "vocab_size": 257, "merges": [[1, 256]]})",
       "merge 0"},
      {R"({"format": "attnlab-bpe", "version": 1, "vocab_size": 258, "merges": [[1, 2], [1, 2]]})",
       "repeats"},
      {R"({"format": "attnlab-bpe", "version": 1, "vocab_size": 257, "merges": [[1]]})",
       "merges[0]"},
  };
  for (const auto& [json, expect] : bad) {
    write_file_atomic(dir + "/bad.json", json);
    try {
      BpeTokenizer::load(dir + "/bad.json");
      ADD_FAILURE() << "accepted " << json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
  }
}

TEST(Bpe, PrepareWritesShardsThatDecodeToTheBytes) {
  const std::string dir = temp_dir("prepare");
  TokenShard train, val;
  train.vocab_size = val.vocab_size = 256;
  ByteTokenizer bytes;
  for (int d = 0; d < 8; ++d)
    append_document(train, bytes.encode(std::string(kText) + std::to_string(d)),
                    static_cast<uint16_t>(d % 3));
  append_document(val, bytes.encode("the rat sat on a cat \xff"), 2);
  write_token_shard(dir + "/train.bin", train);
  write_token_shard(dir + "/val.bin", val);

  BpePrepareOptions o;
  o.data_dir = dir;
  o.vocab_size = 320;
  std::vector<std::string> logs;
  BpeSummary s = prepare_bpe(o, [&](const std::string& l) { logs.push_back(l); });
  EXPECT_FALSE(s.skipped);
  EXPECT_LT(s.train_tokens, s.train_bytes);
  const TokenShard tv = read_token_shard(dir + "/val.bpe.bin");
  EXPECT_EQ(tv.vocab_size, 320u);
  EXPECT_EQ(tv.labels, val.labels);
  EXPECT_EQ(load_tokenizer(dir, TokenizerKind::kBpe)->decode(tv.tokens),
            "the rat sat on a cat \xff");
  EXPECT_TRUE(prepare_bpe(o, [](const std::string&) {}).skipped);
  // Another vocabulary size, or a damaged shard, retrains.
  o.vocab_size = 300;
  EXPECT_FALSE(prepare_bpe(o, [](const std::string&) {}).skipped);
  EXPECT_EQ(read_token_shard(dir + "/train.bpe.bin").vocab_size, 300u);
  std::string why;
  EXPECT_TRUE(bpe_outputs_valid(dir, 300, &why)) << why;
  TokenShard broken = read_token_shard(dir + "/train.bpe.bin");
  std::swap(broken.tokens[0], broken.tokens[1]);
  write_token_shard(dir + "/train.bpe.bin", broken);
  EXPECT_FALSE(bpe_outputs_valid(dir, 300, &why));
  EXPECT_NE(why.find("train.bpe.bin"), std::string::npos) << why;
  EXPECT_FALSE(prepare_bpe(o, [](const std::string&) {}).skipped);
  EXPECT_TRUE(bpe_outputs_valid(dir, 300, &why)) << why;
}

}  // namespace
}  // namespace attn
