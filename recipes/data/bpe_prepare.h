// `attnlab data bpe`: trains a byte-level BPE on the training split of a prepared byte corpus
// and writes bpe.json, train.bpe.bin and val.bpe.bin beside the byte shards.
#pragma once

#include <cstdint>
#include <string>

#include "recipes/data/brown_prepare.h"

namespace attn {

struct BpePrepareOptions {
  std::string data_dir = "data/brown";
  uint32_t vocab_size = 4096;
  bool force = false;
};

struct BpeSummary {
  bool skipped = false;
  uint32_t vocab_size = 0;
  uint64_t train_tokens = 0, val_tokens = 0, train_bytes = 0, val_bytes = 0;
  double seconds = 0;                // training time
  double unigram_bits_per_byte = 0;  // unigram entropy of the BPE tokens, per training byte
};

BpeSummary prepare_bpe(const BpePrepareOptions& options, const LogFn& log);

// True when bpe.json has `vocab_size` ids and both BPE shards decode exactly to the byte shards.
bool bpe_outputs_valid(const std::string& data_dir, uint32_t vocab_size, std::string* why);

}  // namespace attn
