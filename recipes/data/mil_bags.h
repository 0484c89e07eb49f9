// Multiple-instance data for ABMIL (data.corpus MIL): bags of instances with one label per bag.
// Two sources, both fully determined by data.mil.seed:
//  - planted keys: Gaussian instances; positive bags carry a few key instances shifted along one
//    direction, so the label lives in a small, findable subset of the bag (the MIL premise);
//  - Brown genre: runs of consecutive sentences of one Brown document, each sentence a list of
//    hashed word ids (embedded by the model's encoder), labelled informative (0) / imaginative (1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/config/recipe.pb.h"
#include "recipes/data/token_shard.h"

namespace attn {

struct MilBag {
  int32_t label = 0;
  int64_t instances = 0;
  // Planted keys: instances x instance_dim features, row-major.
  std::vector<float> features;
  // Brown genre: word ids of all sentences back to back; sentence n is
  // words[word_offsets[n] .. word_offsets[n + 1]). Every sentence has at least one word.
  std::vector<int32_t> words;
  std::vector<int64_t> word_offsets;
  // Where the bag came from (document index in its shard), -1 for generated bags.
  int64_t document = -1;
  // Planted keys: which instances are keys (for checks and attention maps); empty otherwise.
  std::vector<int64_t> keys;
};

struct MilSplit {
  std::vector<MilBag> bags;
  int64_t instance_dim = 0;  // width of `features`; 0 when bags hold words
  int32_t classes = 2;
};

struct MilData {
  MilSplit train, val;
};

// The split named by data.mil (train and val). Brown bags read data.dir/{train,val}.bin;
// `word_buckets` is the hashed vocabulary size (model.abmil.encoder_buckets). Errors name the
// shard path and document.
MilData load_mil_data(const attnlab::config::Data& data, int64_t word_buckets);

// Generated planted-key bags of one split (stream 0 = train, 1 = val).
MilSplit planted_key_bags(const attnlab::config::Mil& mil, int64_t count, uint64_t stream);

// Bags of one shard of Brown documents. Informative genres (A-J) give label 0, imaginative
// (K-R) label 1; a document with another label is an input error naming `path`.
MilSplit brown_genre_bags(const TokenShard& shard, const std::string& path,
                          const attnlab::config::Mil& mil, int64_t limit, int64_t word_buckets,
                          uint64_t stream);

// Text -> sentences -> words: sentences end at '.', '!' or '?' followed by white space or a
// closing quote; words are maximal runs of letters, digits and apostrophes, lower-cased and
// hashed (FNV-1a, 64-bit) into [0, buckets). Sentences without a word are dropped.
std::vector<std::vector<int32_t>> hashed_sentences(const std::string& text, int64_t buckets);

}  // namespace attn
