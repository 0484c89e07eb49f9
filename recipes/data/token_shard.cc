// Token shard encoding and validated decoding (format: docs/data-format.md).
#include "recipes/data/token_shard.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>

#include "framework/core/error.h"
#include "framework/io/file_util.h"

namespace attn {
namespace {
namespace fs = std::filesystem;

static_assert(std::endian::native == std::endian::little, "token shards are little-endian");

constexpr char kMagic[8] = {'A', 'T', 'T', 'N', 'T', 'O', 'K', '\0'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kDtypeU16 = 1;
constexpr uint32_t kDtypeU32 = 2;
constexpr size_t kHeaderBytes = 40;

template <typename T>
void put(std::string& out, T value) {
  char buf[sizeof(T)];
  std::memcpy(buf, &value, sizeof(T));
  out.append(buf, sizeof(T));
}

template <typename T>
T get(const std::string& bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

}  // namespace

void append_document(TokenShard& shard, const std::vector<int32_t>& tokens, uint16_t label) {
  if (shard.doc_offsets.empty()) shard.doc_offsets.push_back(shard.tokens.size());
  shard.tokens.insert(shard.tokens.end(), tokens.begin(), tokens.end());
  shard.doc_offsets.push_back(shard.tokens.size());
  shard.labels.push_back(label);
}

void validate_token_shard(const TokenShard& s, const std::string& what) {
  if (s.vocab_size == 0) ATTN_FAIL(kInput, "{}: vocab_size is 0", what);
  if (s.doc_offsets.size() != s.labels.size() + 1)
    ATTN_FAIL(kInput, "{}: {} document offsets for {} labels (need labels + 1)", what,
              s.doc_offsets.size(), s.labels.size());
  if (s.doc_offsets.front() != 0 || s.doc_offsets.back() != s.tokens.size())
    ATTN_FAIL(kInput, "{}: document offsets must run from 0 to the token count {}", what,
              s.tokens.size());
  for (size_t d = 0; d + 1 < s.doc_offsets.size(); ++d)
    if (s.doc_offsets[d + 1] < s.doc_offsets[d])
      ATTN_FAIL(kInput, "{}: document offset {} decreases", what, d + 1);
  for (size_t i = 0; i < s.tokens.size(); ++i)
    if (s.tokens[i] < 0 || static_cast<uint32_t>(s.tokens[i]) >= s.vocab_size)
      ATTN_FAIL(kInput, "{}: token {} = {} outside the vocabulary [0, {})", what, i, s.tokens[i],
                s.vocab_size);
}

std::string encode_token_shard(const TokenShard& s) {
  TokenShard empty_docs;
  const TokenShard* shard = &s;
  if (s.doc_offsets.empty() && s.tokens.empty() && s.labels.empty()) {
    empty_docs.vocab_size = s.vocab_size;
    empty_docs.doc_offsets = {0};
    shard = &empty_docs;
  }
  validate_token_shard(*shard, "token shard");
  const bool narrow = shard->vocab_size <= 65536;
  std::string out;
  out.reserve(kHeaderBytes + shard->tokens.size() * (narrow ? 2 : 4) +
              shard->doc_offsets.size() * 8 + shard->labels.size() * 2);
  out.append(kMagic, sizeof(kMagic));
  put<uint32_t>(out, kVersion);
  put<uint32_t>(out, narrow ? kDtypeU16 : kDtypeU32);
  put<uint64_t>(out, shard->tokens.size());
  put<uint64_t>(out, shard->labels.size());
  put<uint32_t>(out, shard->vocab_size);
  put<uint32_t>(out, 0);
  for (int32_t t : shard->tokens) {
    if (narrow)
      put<uint16_t>(out, static_cast<uint16_t>(t));
    else
      put<uint32_t>(out, static_cast<uint32_t>(t));
  }
  for (uint64_t o : shard->doc_offsets) put<uint64_t>(out, o);
  for (uint16_t l : shard->labels) put<uint16_t>(out, l);
  return out;
}

void write_token_shard(const std::string& path, const TokenShard& shard) {
  const std::string bytes = encode_token_shard(shard);
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) ATTN_FAIL(kIo, "{}: cannot create directory: {}", parent.string(), ec.message());
  write_file_atomic(path, bytes);
}

TokenShard decode_token_shard(const std::string& bytes, const std::string& path) {
  const size_t size = bytes.size();
  if (size < kHeaderBytes) {
    if (size >= 8 && std::memcmp(bytes.data(), kMagic, 8) != 0)
      ATTN_FAIL(kInput, "{}: byte 0: not an attnlab token shard (bad magic)", path);
    ATTN_FAIL(kInput, "{}: byte {}: truncated header: expected {} bytes, file has {}", path, size,
              kHeaderBytes, size);
  }
  if (std::memcmp(bytes.data(), kMagic, 8) != 0)
    ATTN_FAIL(kInput, "{}: byte 0: not an attnlab token shard (bad magic)", path);
  const uint32_t version = get<uint32_t>(bytes, 8);
  if (version != kVersion)
    ATTN_FAIL(kInput, "{}: byte 8: unsupported token shard version {} (this build reads {})", path,
              version, kVersion);
  const uint32_t dtype = get<uint32_t>(bytes, 12);
  if (dtype != kDtypeU16 && dtype != kDtypeU32)
    ATTN_FAIL(kInput, "{}: byte 12: unknown token dtype {} (1 = u16, 2 = u32)", path, dtype);
  const uint64_t count = get<uint64_t>(bytes, 16);
  const uint64_t docs = get<uint64_t>(bytes, 24);
  const uint32_t vocab = get<uint32_t>(bytes, 32);
  const uint32_t reserved = get<uint32_t>(bytes, 36);
  if (vocab == 0) ATTN_FAIL(kInput, "{}: byte 32: vocab size is 0", path);
  if (dtype == kDtypeU16 && vocab > 65536)
    ATTN_FAIL(kInput, "{}: byte 32: vocab size {} does not fit the u16 token dtype", path, vocab);
  if (reserved != 0) ATTN_FAIL(kInput, "{}: byte 36: reserved field is {}, not 0", path, reserved);

  // Bound the counts by the file size first so the size arithmetic below cannot overflow.
  const size_t width = dtype == kDtypeU16 ? 2 : 4;
  if (count > size || docs > size)
    ATTN_FAIL(kInput, "{}: byte 16: header claims {} tokens and {} documents, file has {} bytes",
              path, count, docs, size);
  const size_t tokens_at = kHeaderBytes;
  const size_t offsets_at = tokens_at + count * width;
  const size_t labels_at = offsets_at + (docs + 1) * 8;
  const size_t expected = labels_at + docs * 2;
  if (size != expected)
    ATTN_FAIL(kInput,
              "{}: byte {}: {}: expected {} bytes for {} tokens and {} documents, file has {}",
              path, std::min(size, expected), size < expected ? "truncated" : "trailing bytes",
              expected, count, docs, size);

  TokenShard s;
  s.vocab_size = vocab;
  s.tokens.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const size_t at = tokens_at + i * width;
    const uint32_t t = width == 2 ? get<uint16_t>(bytes, at) : get<uint32_t>(bytes, at);
    if (t >= vocab)
      ATTN_FAIL(kInput, "{}: byte {}: token {} = {} outside the vocabulary [0, {})", path, at, i, t,
                vocab);
    s.tokens[i] = static_cast<int32_t>(t);
  }
  s.doc_offsets.resize(docs + 1);
  for (size_t d = 0; d <= docs; ++d) {
    const size_t at = offsets_at + d * 8;
    const uint64_t o = get<uint64_t>(bytes, at);
    const uint64_t prev = d == 0 ? 0 : s.doc_offsets[d - 1];
    if ((d == 0 && o != 0) || o < prev || o > count || (d == docs && o != count))
      ATTN_FAIL(kInput,
                "{}: byte {}: document offset {} = {} breaks 0 = first <= ... <= last = {} "
                "(previous {})",
                path, at, d, o, count, prev);
    s.doc_offsets[d] = o;
  }
  s.labels.resize(docs);
  if (docs > 0) std::memcpy(s.labels.data(), bytes.data() + labels_at, docs * 2);
  return s;
}

TokenShard read_token_shard(const std::string& path) {
  return decode_token_shard(read_file(path), path);
}

}  // namespace attn
