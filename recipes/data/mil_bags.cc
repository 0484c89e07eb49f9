#include "recipes/data/mil_bags.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "framework/core/error.h"
#include "framework/rng/philox.h"
#include "recipes/data/brown.h"

namespace attn {

namespace cfg = attnlab::config;

namespace {

// Sequential draws from one Philox stream: bag b of split s reads stream (s, b) alone, so a bag
// does not change when the bags before it change size.
class Draws {
 public:
  Draws(uint64_t seed, uint64_t stream) : seed_(seed), stream_(stream) {}
  uint32_t next() {
    if (used_ == 4) {
      block_ = philox4x32(seed_, stream_, counter_++);
      used_ = 0;
    }
    return block_[used_++];
  }
  // Uniform integer in [0, n).
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
  double normal() {
    const double u1 = uint_to_unit(next()), u2 = uint_to_unit(next());
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t seed_, stream_, counter_ = 0;
  PhiloxBlock block_{};
  int used_ = 4;
};

constexpr uint64_t kMilStream = 0x4d494c;  // "MIL"

int64_t bag_size(Draws& d, const cfg::Mil& mil) {
  return mil.min_instances() + d.below(mil.max_instances() - mil.min_instances() + 1);
}

}  // namespace

MilSplit planted_key_bags(const cfg::Mil& mil, int64_t count, uint64_t stream) {
  const int64_t dim = mil.instance_dim();
  // One key direction for both splits: the task is the same, only its samples differ.
  std::vector<double> direction(dim);
  Draws dd(mil.seed(), rng_stream(kMilStream, 99));
  double norm = 0;
  for (double& x : direction) {
    x = dd.normal();
    norm += x * x;
  }
  for (double& x : direction) x /= std::sqrt(norm);

  MilSplit split;
  split.instance_dim = dim;
  split.bags.resize(count);
  for (int64_t b = 0; b < count; ++b) {
    Draws d(mil.seed(), rng_stream(kMilStream, stream, b));
    MilBag& bag = split.bags[b];
    bag.instances = bag_size(d, mil);
    bag.label = static_cast<int32_t>(d.next() & 1);
    bag.features.resize(bag.instances * dim);
    for (float& x : bag.features) x = static_cast<float>(d.normal());
    if (bag.label == 0) continue;
    const int64_t keys =
        std::max<int64_t>(1, std::llround(mil.key_fraction() * static_cast<double>(bag.instances)));
    std::vector<int64_t> order(bag.instances);
    std::iota(order.begin(), order.end(), 0);
    for (int64_t i = 0; i < keys; ++i) std::swap(order[i], order[i + d.below(bag.instances - i)]);
    bag.keys.assign(order.begin(), order.begin() + keys);
    std::sort(bag.keys.begin(), bag.keys.end());
    for (int64_t k : bag.keys)
      for (int64_t j = 0; j < dim; ++j)
        bag.features[k * dim + j] += static_cast<float>(mil.key_signal() * direction[j]);
  }
  return split;
}

std::vector<std::vector<int32_t>> hashed_sentences(const std::string& text, int64_t buckets) {
  std::vector<std::vector<int32_t>> sentences(1);
  uint64_t hash = 0;
  bool in_word = false;
  auto end_word = [&] {
    if (in_word) sentences.back().push_back(static_cast<int32_t>(hash % buckets));
    in_word = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (std::isalnum(c) || c == '\'') {
      if (!in_word) hash = 14695981039346656037ull;
      in_word = true;
      hash = (hash ^ static_cast<unsigned char>(std::tolower(c))) * 1099511628211ull;
      continue;
    }
    end_word();
    const bool terminal = c == '.' || c == '!' || c == '?';
    const unsigned char next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : ' ';
    if (terminal && (std::isspace(next) || next == '"') && !sentences.back().empty())
      sentences.emplace_back();
  }
  end_word();
  if (sentences.back().empty()) sentences.pop_back();
  return sentences;
}

MilSplit brown_genre_bags(const TokenShard& shard, const std::string& path, const cfg::Mil& mil,
                          int64_t limit, int64_t word_buckets, uint64_t stream) {
  MilSplit split;
  for (size_t doc = 0; doc < shard.num_docs(); ++doc) {
    const uint16_t genre = shard.labels[doc];
    if (genre >= kBrownGenreCount)
      throw Error(ErrorKind::kInput, path,
                  fmt::format("document {} has no Brown genre label (got {}): BROWN_GENRE bags "
                              "need the shards of `attnlab data brown`",
                              doc, genre));
    std::string text;
    for (uint64_t t = shard.doc_offsets[doc]; t < shard.doc_offsets[doc + 1]; ++t)
      text.push_back(static_cast<char>(shard.tokens[t]));
    const std::vector<std::vector<int32_t>> sentences = hashed_sentences(text, word_buckets);
    Draws d(mil.seed(), rng_stream(kMilStream + 1, stream, doc));
    for (size_t s = 0; s < sentences.size();) {
      const int64_t n = bag_size(d, mil);
      if (s + n > sentences.size()) break;  // a short tail would be a smaller bag than asked
      MilBag bag;
      // kBrownGenres lists the informative genres (a-j) first, then the imaginative ones.
      bag.label = kBrownGenres[genre].code <= 'j' ? 0 : 1;
      bag.instances = n;
      bag.document = static_cast<int64_t>(doc);
      bag.word_offsets.push_back(0);
      for (int64_t k = 0; k < n; ++k, ++s) {
        bag.words.insert(bag.words.end(), sentences[s].begin(), sentences[s].end());
        bag.word_offsets.push_back(static_cast<int64_t>(bag.words.size()));
      }
      split.bags.push_back(std::move(bag));
    }
  }
  if (split.bags.empty())
    throw Error(ErrorKind::kInput, path,
                fmt::format("no bag of {}..{} sentences: the documents are too short",
                            mil.min_instances(), mil.max_instances()));
  if (limit > 0 && static_cast<int64_t>(split.bags.size()) > limit) {
    // A seeded subset, kept in document order.
    std::vector<size_t> order(split.bags.size());
    std::iota(order.begin(), order.end(), 0);
    Draws d(mil.seed(), rng_stream(kMilStream + 2, stream));
    for (int64_t i = 0; i < limit; ++i)
      std::swap(order[i], order[i + d.below(static_cast<int64_t>(order.size()) - i)]);
    order.resize(limit);
    std::sort(order.begin(), order.end());
    std::vector<MilBag> kept;
    for (size_t i : order) kept.push_back(std::move(split.bags[i]));
    split.bags = std::move(kept);
  }
  return split;
}

MilData load_mil_data(const cfg::Data& data, int64_t word_buckets) {
  const cfg::Mil& mil = data.mil();
  MilData out;
  if (mil.source() == cfg::Mil::PLANTED_KEYS) {
    out.train = planted_key_bags(mil, mil.train_bags(), 0);
    out.val = planted_key_bags(mil, mil.val_bags(), 1);
    return out;
  }
  const std::string train = data.dir() + "/train.bin", val = data.dir() + "/val.bin";
  out.train =
      brown_genre_bags(read_token_shard(train), train, mil, mil.train_bags(), word_buckets, 0);
  out.val = brown_genre_bags(read_token_shard(val), val, mil, mil.val_bags(), word_buckets, 1);
  return out;
}

}  // namespace attn
