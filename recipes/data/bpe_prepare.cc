// BPE preparation: train on the byte shard's documents, then re-tokenize both splits document
// by document (labels kept). Validity means: the BPE shards decode back to the byte shards.
#include "recipes/data/bpe_prepare.h"

#include <chrono>
#include <filesystem>

#include "framework/core/error.h"
#include "recipes/data/bpe.h"
#include "recipes/data/token_shard.h"
#include "recipes/data/tokenizer.h"

namespace attn {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> documents(const TokenShard& shard, const std::string& path) {
  if (shard.vocab_size != 256)
    ATTN_FAIL(kInput, "{}: vocab size {}, expected a byte shard (256)", path, shard.vocab_size);
  std::vector<std::string> docs;
  for (size_t d = 0; d < shard.num_docs(); ++d)
    docs.emplace_back(shard.tokens.begin() + shard.doc_offsets[d],
                      shard.tokens.begin() + shard.doc_offsets[d + 1]);
  return docs;
}

TokenShard encode_shard(const BpeTokenizer& bpe, const TokenShard& bytes,
                        const std::vector<std::string>& docs) {
  TokenShard out;
  out.vocab_size = bpe.vocab_size();
  out.doc_offsets.push_back(0);
  for (size_t d = 0; d < docs.size(); ++d)
    append_document(out, bpe.encode(docs[d]), bytes.labels[d]);
  return out;
}

}  // namespace

bool bpe_outputs_valid(const std::string& data_dir, uint32_t vocab_size, std::string* why) {
  try {
    const std::unique_ptr<Tokenizer> bpe = load_tokenizer(data_dir, TokenizerKind::kBpe);
    if (bpe->vocab_size() != vocab_size) {
      *why = fmt::format("bpe.json has {} ids, {} requested", bpe->vocab_size(), vocab_size);
      return false;
    }
    for (const char* split : {"train", "val"}) {
      const std::string bytes_path = shard_path(data_dir, TokenizerKind::kBytes, split);
      const std::string bpe_path = shard_path(data_dir, TokenizerKind::kBpe, split);
      const TokenShard bytes = read_token_shard(bytes_path);
      const TokenShard tokens = read_token_shard(bpe_path);
      const std::string text(bytes.tokens.begin(), bytes.tokens.end());
      if (tokens.vocab_size != vocab_size || tokens.labels != bytes.labels ||
          bpe->decode(tokens.tokens) != text) {
        *why = bpe_path + " does not decode to " + bytes_path;
        return false;
      }
    }
    return true;
  } catch (const Error& e) {
    *why = e.what();
  }
  return false;
}

BpeSummary prepare_bpe(const BpePrepareOptions& o, const LogFn& log) {
  if (o.vocab_size < 257 || o.vocab_size > 1048576)
    ATTN_FAIL(kConfig, "--vocab-size {} must be in [257, 1048576]", o.vocab_size);
  BpeSummary summary;
  summary.vocab_size = o.vocab_size;
  std::string why;
  if (!o.force && bpe_outputs_valid(o.data_dir, o.vocab_size, &why)) {
    log(fmt::format("{} already holds a valid BPE of {} ids; skipping (--force rebuilds)",
                    o.data_dir, o.vocab_size));
    summary.skipped = true;
    return summary;
  }
  if (!o.force && fs::exists(fs::path(o.data_dir) / "bpe.json"))
    log(fmt::format("rebuilding: {}", why));

  const std::string train_path = shard_path(o.data_dir, TokenizerKind::kBytes, "train");
  const std::string val_path = shard_path(o.data_dir, TokenizerKind::kBytes, "val");
  const TokenShard train_bytes = read_token_shard(train_path);
  const TokenShard val_bytes = read_token_shard(val_path);
  const std::vector<std::string> train_docs = documents(train_bytes, train_path);
  const std::vector<std::string> val_docs = documents(val_bytes, val_path);
  summary.train_bytes = train_bytes.tokens.size();
  summary.val_bytes = val_bytes.tokens.size();

  log(fmt::format("training a BPE of {} ids on {} ({} bytes)", o.vocab_size, train_path,
                  summary.train_bytes));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string_view> texts(train_docs.begin(), train_docs.end());
  BpeTokenizer bpe(train_bpe(texts, o.vocab_size, [&](size_t merges, int64_t count) {
    if (merges % 1024 == 0) log(fmt::format("  {} merges, last pair seen {} times", merges, count));
  }));
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const TokenShard train = encode_shard(bpe, train_bytes, train_docs);
  const TokenShard val = encode_shard(bpe, val_bytes, val_docs);
  summary.train_tokens = train.tokens.size();
  summary.val_tokens = val.tokens.size();
  summary.unigram_bits_per_byte = unigram_entropy_bits(train.tokens, bpe.vocab_size()) *
                                  static_cast<double>(summary.train_tokens) /
                                  static_cast<double>(summary.train_bytes);

  // bpe.json first: until both shards are rewritten they fail to decode and count as invalid.
  bpe.save((fs::path(o.data_dir) / "bpe.json").string());
  write_token_shard(shard_path(o.data_dir, TokenizerKind::kBpe, "train"), train);
  write_token_shard(shard_path(o.data_dir, TokenizerKind::kBpe, "val"), val);
  log(fmt::format(
      "wrote bpe.json, train.bpe.bin ({} tokens, {:.2f} bytes per token), "
      "val.bpe.bin ({} tokens) in {:.1f} s; unigram baseline {:.4f} bits per byte",
      summary.train_tokens, static_cast<double>(summary.train_bytes) / summary.train_tokens,
      summary.val_tokens, summary.seconds, summary.unigram_bits_per_byte));
  return summary;
}

}  // namespace attn
