#include "recipes/train/data_source.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>

#include "framework/core/error.h"
#include "recipes/data/bigram_backcopy_loader.h"
#include "recipes/data/loader.h"
#include "recipes/data/synthetic/synthetic_task.h"
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

SyntheticOptions synthetic_options(const cfg::Synthetic& s) {
  SyntheticOptions o;
  o.task = s.task();
  o.seed = s.seed();
  o.length = s.length();
  o.num_pairs = s.num_pairs();
  o.num_queries = s.num_queries();
  o.num_distractors = s.num_distractors();
  return o;
}

// `count` generated examples of one split. The needle task hides its facts in Brown text: the
// training documents for the training split, the validation documents for val and test.
std::vector<SftExample> synthetic_split(const cfg::Recipe& r, DataSplit split, int64_t count) {
  const SyntheticOptions o = synthetic_options(r.data().synthetic());
  Haystack haystack;
  if (o.task == cfg::Synthetic::NEEDLE_QA) {
    const std::string path =
        r.data().dir() + (split == DataSplit::kTrain ? "/train.bin" : "/val.bin");
    if (!std::filesystem::exists(path))
      throw Error(ErrorKind::kInput, path,
                  fmt::format("not found: NEEDLE_QA hides its facts in the Brown corpus; prepare "
                              "it with `attnlab data brown --out {}`",
                              r.data().dir()));
    haystack = read_haystack(path);
  }
  std::vector<SftExample> out;
  out.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    out.push_back(generate_example(o, split, static_cast<uint64_t>(i), &haystack));
  return out;
}

std::vector<TokenizedExample> read_examples(const std::vector<std::string>& paths,
                                            const Tokenizer& tokenizer, int64_t seq_len) {
  std::vector<TokenizedExample> out;
  for (const std::string& path : paths) {
    if (!std::filesystem::exists(path)) throw Error(ErrorKind::kInput, path, "SFT file not found");
    std::vector<TokenizedExample> t =
        tokenize_examples(read_sft_jsonl(path), tokenizer, seq_len, path);
    if (t.empty()) throw Error(ErrorKind::kInput, path, "SFT file holds no examples");
    out.insert(out.end(), std::make_move_iterator(t.begin()), std::make_move_iterator(t.end()));
  }
  return out;
}

void load_examples(const cfg::Recipe& r, DataSource& d) {
  d.examples = true;
  d.rows.segment_mask = r.data().examples().mask() == cfg::Examples::SEGMENT;
  d.rows.response_only = r.data().examples().targets() == cfg::Examples::RESPONSE;
  const Tokenizer& tok = *d.tokenizer;
  const int64_t T = r.model().seq_len();
  if (r.data().corpus() == cfg::Data::SFT) {
    d.train_examples = read_examples({r.data().train().begin(), r.data().train().end()}, tok, T);
    d.val_examples = read_examples({r.data().val().begin(), r.data().val().end()}, tok, T);
    d.test_examples = read_examples({r.data().test().begin(), r.data().test().end()}, tok, T);
    return;
  }
  const cfg::Synthetic& s = r.data().synthetic();
  auto split = [&](DataSplit which, int64_t count) {
    try {
      return tokenize_examples(synthetic_split(r, which, count), tok, T,
                               fmt::format("synthetic {}", split_name(which)));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kInput) throw;
      // Generated examples that do not fit are the recipe's doing.
      throw Error(ErrorKind::kConfig, "data.synthetic.length",
                  fmt::format("{}: {} (lower data.synthetic.length {} or raise model.seq_len)",
                              e.where(), e.message(), s.length()));
    }
  };
  d.train_examples = split(DataSplit::kTrain, s.train_examples());
  d.val_examples = split(DataSplit::kVal, s.val_examples());
  d.test_examples = split(DataSplit::kTest, s.test_examples());
}

}  // namespace

std::unique_ptr<Tokenizer> open_tokenizer(const cfg::Recipe& r) {
  std::unique_ptr<Tokenizer> t =
      r.data().tokenizer() == cfg::Data::SYMBOLS
          ? std::make_unique<SymbolTokenizer>(r.data().bigram_backcopy().vocab())
          : load_tokenizer(r.data().dir(), r.data().tokenizer() == cfg::Data::BPE
                                               ? TokenizerKind::kBpe
                                               : TokenizerKind::kBytes);
  if (r.data().bos()) t = std::make_unique<BosTokenizer>(std::move(t));
  if (static_cast<int64_t>(t->vocab_size()) != r.model().vocab_size())
    throw Error(
        ErrorKind::kConfig, "model.vocab_size",
        fmt::format("is {} but the {} tokenizer has {} symbols{}", r.model().vocab_size(),
                    tokenizer_name(r), t->vocab_size(), r.data().bos() ? " (BOS included)" : ""));
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
    case cfg::Data::SFT:
    case cfg::Data::SYNTHETIC:
      break;
    case cfg::Data::BIGRAM_BACKCOPY: {
      const cfg::BigramBackcopy& b = r.data().bigram_backcopy();
      BigramBackcopyOptions o;
      o.seed = b.seed();
      o.vocab = b.vocab();
      o.triggers = b.triggers();
      o.logit_std = b.logit_std();
      d.bigram_backcopy = std::make_shared<const BigramBackcopy>(o);
      d.val_sequences = b.val_sequences();
      break;
    }
    default:
      throw Error(ErrorKind::kConfig, "data.corpus",
                  cfg::Data::Corpus_Name(r.data().corpus()) + " data is not available yet");
  }
  d.tokenizer = open_tokenizer(r);
  d.pack_documents = r.data().pack_documents();
  d.seq_len = r.model().seq_len();
  d.bos = bos_of(*d.tokenizer);
  const uint32_t shard_vocab = d.tokenizer->vocab_size() - (d.bos >= 0 ? 1 : 0);
  if (d.train.empty() && !d.bigram_backcopy) load_examples(r, d);
  // Every shard is read and validated here, before a run directory is created, so a corrupt
  // or mismatched shard fails the run up front and names the file.
  for (const auto* split : {&d.train, &d.val}) {
    // Next-token targets of the split: a document of n tokens has n - 1 (n after a BOS). With
    // none, the loss is a mean over nothing and a run would "train" to 0.
    int64_t targets = 0;
    for (const std::string& path : *split) {
      if (!std::filesystem::exists(path))
        throw Error(ErrorKind::kInput, path, "token shard not found");
      const TokenShard shard = read_token_shard(path);
      if (shard.vocab_size != shard_vocab)
        throw Error(ErrorKind::kInput, path,
                    fmt::format("token shard has a vocabulary of {}, but model.vocab_size is {} "
                                "({} tokenizer{})",
                                shard.vocab_size, r.model().vocab_size(), tokenizer_name(r),
                                d.bos >= 0 ? ", plus BOS" : ""));
      if (shard.tokens.empty()) throw Error(ErrorKind::kInput, path, "token shard is empty");
      for (size_t doc = 0; doc + 1 < shard.doc_offsets.size(); ++doc)
        targets += std::max<int64_t>(
            0, static_cast<int64_t>(shard.doc_length(doc)) - (d.bos >= 0 ? 0 : 1));
    }
    if (!split->empty() && targets == 0)
      throw Error(ErrorKind::kInput, fmt::format("{}", fmt::join(*split, ", ")),
                  "no document has two tokens, so there is no next token to predict (the split "
                  "needs a document of at least 2 tokens)");
  }
  d.token_bytes.resize(r.model().vocab_size());
  for (int32_t id = 0; id < r.model().vocab_size(); ++id)
    d.token_bytes[id] = static_cast<double>(d.tokenizer->decode({id}).size());
  return d;
}

std::unique_ptr<BatchStream> open_train_stream(DataSource& d, int64_t rows, uint64_t seed, int rank,
                                               int world) {
  if (d.examples)
    return std::make_unique<SftLoader>(std::move(d.train_examples), d.seq_len, rows, seed, rank,
                                       world, d.rows);
  if (d.bigram_backcopy)
    return std::make_unique<BigramBackcopyLoader>(d.bigram_backcopy, d.seq_len, rows, rank, world);
  return std::make_unique<TokenLoader>(d.train, d.seq_len, rows, seed, rank, world,
                                       d.pack_documents, d.bos);
}

std::unique_ptr<BatchStream> open_eval_stream(const DataSource& d, EvalSplit split, int64_t rows,
                                              int rank, int world) {
  if (!d.examples) {
    ATTN_CHECK(split == EvalSplit::kVal, "token corpora have no test split");
    if (d.bigram_backcopy)
      return std::make_unique<BigramBackcopyLoader>(BigramBackcopyLoader::eval(
          d.bigram_backcopy, d.seq_len, rows, rank, world, d.val_sequences));
    return std::make_unique<TokenLoader>(
        TokenLoader::eval(d.val, d.seq_len, rows, rank, world, d.pack_documents, d.bos));
  }
  const std::vector<TokenizedExample>& examples =
      split == EvalSplit::kVal ? d.val_examples : d.test_examples;
  ATTN_CHECK(!examples.empty(), "open_eval_stream: no examples in the split");
  // Accuracy is measured on the answer alone, whatever the training targets.
  SftRows how = d.rows;
  if (split == EvalSplit::kTest) how.response_only = true;
  return std::make_unique<SftLoader>(SftLoader::eval(examples, d.seq_len, rows, rank, world, how));
}

}  // namespace attn
