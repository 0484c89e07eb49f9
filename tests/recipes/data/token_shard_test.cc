// Token shards: round trips for both token widths, and every kind of corruption rejected with an
// attn::Error naming the path and the byte offset.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include <unistd.h>

#include "framework/core/error.h"
#include "framework/io/file_util.h"
#include "recipes/data/token_shard.h"

namespace attn {
namespace {
namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("attnlab_shard_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

TokenShard small_shard(uint32_t vocab) {
  TokenShard s;
  s.vocab_size = vocab;
  append_document(s, {1, 2, 3}, 4);
  append_document(s, {}, kNoLabel);
  append_document(s, {static_cast<int32_t>(vocab - 1), 0}, 14);
  return s;
}

void expect_same(const TokenShard& a, const TokenShard& b) {
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.doc_offsets, b.doc_offsets);
  EXPECT_EQ(a.labels, b.labels);
}

// Returns the error message of decoding `bytes`, or "" when it decodes.
std::string decode_error(const std::string& bytes, ErrorKind* kind = nullptr) {
  try {
    decode_token_shard(bytes, "corrupt.bin");
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

template <typename T>
void poke(std::string& bytes, size_t at, T value) {
  std::memcpy(bytes.data() + at, &value, sizeof(T));
}

TEST(TokenShard, RoundTripU16) {
  const std::string path = temp_path("u16.bin");
  const TokenShard s = small_shard(256);
  write_token_shard(path, s);
  expect_same(read_token_shard(path), s);
  // Header + 5 u16 tokens + 4 offsets + 3 labels.
  EXPECT_EQ(fs::file_size(path), 40u + 5 * 2 + 4 * 8 + 3 * 2);
  for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path()))
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();
}

TEST(TokenShard, RoundTripU32AboveU16Range) {
  const std::string path = temp_path("u32.bin");
  const TokenShard s = small_shard(70000);
  write_token_shard(path, s);
  expect_same(read_token_shard(path), s);
  EXPECT_EQ(fs::file_size(path), 40u + 5 * 4 + 4 * 8 + 3 * 2);
  std::string bytes = read_file(path);
  uint32_t dtype;
  std::memcpy(&dtype, bytes.data() + 12, 4);
  EXPECT_EQ(dtype, 2u);
}

TEST(TokenShard, EmptyShardRoundTrips) {
  TokenShard s;
  s.vocab_size = 256;
  TokenShard back = decode_token_shard(encode_token_shard(s), "empty");
  EXPECT_TRUE(back.tokens.empty());
  EXPECT_EQ(back.doc_offsets, std::vector<uint64_t>{0});
}

TEST(TokenShard, WriterRejectsInconsistentShards) {
  TokenShard s = small_shard(256);
  s.tokens[0] = 256;
  EXPECT_THROW(encode_token_shard(s), Error);
  s = small_shard(256);
  s.doc_offsets[1] = 9;
  EXPECT_THROW(encode_token_shard(s), Error);
  s = small_shard(256);
  s.labels.pop_back();
  EXPECT_THROW(encode_token_shard(s), Error);
}

TEST(TokenShard, MissingFileNamesPath) {
  try {
    read_token_shard("/nonexistent/attnlab/x.bin");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/attnlab/x.bin"), std::string::npos);
  }
}

struct Corruption {
  const char* name;
  void (*apply)(std::string&);
  const char* expect;  // substring of the message (besides path and byte offset)
  const char* byte;
};

TEST(TokenShard, EveryCorruptionIsRejectedWithPathAndOffset) {
  const std::string good = encode_token_shard(small_shard(256));
  // Offsets in the good file: tokens at 40, document offsets at 50, labels at 82.
  const Corruption cases[] = {
      {"magic", [](std::string& b) { b[3] = 'X'; }, "not an attnlab token shard", "byte 0:"},
      {"text file", [](std::string& b) { b = "hello world, not a shard at all!!"; },
       "not an attnlab token shard", "byte 0:"},
      {"short header", [](std::string& b) { b.resize(20); }, "expected 40 bytes", "byte 20:"},
      {"version", [](std::string& b) { poke<uint32_t>(b, 8, 2); }, "version 2", "byte 8:"},
      {"dtype", [](std::string& b) { poke<uint32_t>(b, 12, 3); }, "dtype 3", "byte 12:"},
      {"vocab zero", [](std::string& b) { poke<uint32_t>(b, 32, 0); }, "vocab size is 0",
       "byte 32:"},
      {"reserved", [](std::string& b) { poke<uint32_t>(b, 36, 7); }, "reserved", "byte 36:"},
      {"truncated", [](std::string& b) { b.resize(b.size() - 1); }, "expected 88 bytes",
       "byte 87:"},
      {"trailing", [](std::string& b) { b += "x"; }, "trailing bytes", "byte 88:"},
      {"huge count", [](std::string& b) { poke<uint64_t>(b, 16, ~0ull); }, "header claims",
       "byte 16:"},
      {"token out of vocab", [](std::string& b) { poke<uint16_t>(b, 42, 300); },
       "outside the vocabulary", "byte 42:"},
      {"offset decreases", [](std::string& b) { poke<uint64_t>(b, 66, 1); }, "document offset 2",
       "byte 66:"},
      {"first offset", [](std::string& b) { poke<uint64_t>(b, 50, 1); }, "document offset 0",
       "byte 50:"},
      {"last offset", [](std::string& b) { poke<uint64_t>(b, 74, 4); }, "document offset 3",
       "byte 74:"},
  };
  for (const Corruption& c : cases) {
    std::string bytes = good;
    c.apply(bytes);
    ErrorKind kind = ErrorKind::kInternal;
    const std::string msg = decode_error(bytes, &kind);
    EXPECT_NE(msg.find("corrupt.bin"), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.byte), std::string::npos) << c.name << ": " << msg;
    EXPECT_EQ(kind, ErrorKind::kInput) << c.name;  // exit 2: bad input
  }
  EXPECT_EQ(decode_error(good), "");
}

TEST(TokenShard, RandomByteFlipsNeverCrash) {
  // Every single-byte corruption either decodes to a valid shard or throws attn::Error.
  const std::string good = encode_token_shard(small_shard(256));
  int rejected = 0;
  for (size_t at = 0; at < good.size(); ++at) {
    for (int v : {0x00, 0x01, 0x7F, 0xFF}) {
      std::string bytes = good;
      bytes[at] = static_cast<char>(v);
      try {
        TokenShard s = decode_token_shard(bytes, "flip");
        validate_token_shard(s, "flip");
      } catch (const Error&) {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace attn
