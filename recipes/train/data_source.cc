#include "recipes/train/data_source.h"

#include <filesystem>

#include "framework/core/error.h"
#include "recipes/data/token_shard.h"

namespace attn {

namespace cfg = attnlab::config;

namespace {

std::string tokenizer_name(const cfg::Recipe& r) {
  return cfg::Data::Tokenizer_Name(r.data().tokenizer());
}

// BROWN: the files `attnlab data brown` (and `attnlab data bpe`) write into data.dir.
std::vector<std::string> brown_split(const cfg::Recipe& r, const std::string& split) {
  const bool bpe = r.data().tokenizer() == cfg::Data::BPE;
  const std::string path = r.data().dir() + "/" + split + (bpe ? ".bpe.bin" : ".bin");
  if (!std::filesystem::exists(path))
    throw Error(ErrorKind::kInput, path,
                fmt::format("not found: prepare the corpus first with `attnlab data brown --out "
                            "{}`{}",
                            r.data().dir(),
                            bpe ? fmt::format(" and `attnlab data bpe --data {} --vocab-size {}`",
                                              r.data().dir(), r.data().bpe_vocab_size())
                                : ""));
  return {path};
}

}  // namespace

std::unique_ptr<Tokenizer> open_tokenizer(const cfg::Recipe& r) {
  std::unique_ptr<Tokenizer> t = load_tokenizer(
      r.data().dir(),
      r.data().tokenizer() == cfg::Data::BPE ? TokenizerKind::kBpe : TokenizerKind::kBytes);
  if (static_cast<int64_t>(t->vocab_size()) != r.model().vocab_size())
    throw Error(ErrorKind::kConfig, "model.vocab_size",
                fmt::format("is {} but the {} tokenizer has {} symbols", r.model().vocab_size(),
                            tokenizer_name(r), t->vocab_size()));
  return t;
}

DataSource open_data_source(const cfg::Recipe& r) {
  DataSource d;
  switch (r.data().corpus()) {
    case cfg::Data::BROWN:
      d.train = brown_split(r, "train");
      d.val = brown_split(r, "val");
      break;
    case cfg::Data::SHARDS:
      d.train.assign(r.data().train().begin(), r.data().train().end());
      d.val.assign(r.data().val().begin(), r.data().val().end());
      if (d.train.empty() || d.val.empty())
        throw Error(ErrorKind::kConfig, "data.train",
                    "corpus SHARDS needs at least one data.train and one data.val shard path");
      break;
    default:
      throw Error(ErrorKind::kConfig, "data.corpus",
                  cfg::Data::Corpus_Name(r.data().corpus()) + " data is not available yet");
  }
  d.tokenizer = open_tokenizer(r);
  // Every shard is read and validated here, before a run directory is created, so a corrupt
  // or mismatched shard fails the run up front and names the file.
  for (const auto* split : {&d.train, &d.val})
    for (const std::string& path : *split) {
      if (!std::filesystem::exists(path))
        throw Error(ErrorKind::kInput, path, "token shard not found");
      const TokenShard shard = read_token_shard(path);
      if (shard.vocab_size != static_cast<uint32_t>(r.model().vocab_size()))
        throw Error(ErrorKind::kInput, path,
                    fmt::format("token shard has a vocabulary of {}, but model.vocab_size is {} "
                                "({} tokenizer)",
                                shard.vocab_size, r.model().vocab_size(), tokenizer_name(r)));
      if (shard.tokens.empty()) throw Error(ErrorKind::kInput, path, "token shard is empty");
    }
  d.token_bytes.resize(r.model().vocab_size());
  for (int32_t id = 0; id < r.model().vocab_size(); ++id)
    d.token_bytes[id] = static_cast<double>(d.tokenizer->decode({id}).size());
  return d;
}

}  // namespace attn
