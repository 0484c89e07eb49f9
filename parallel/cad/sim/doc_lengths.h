// Document lengths for the CAD simulator: a long-tailed mix (a log-normal body of short documents
// plus an up-sampled tail of long ones, as long-context training mixes are built), or lengths
// drawn from a real corpus. Deterministic from a seed on every machine (own generator and
// transforms, no std:: distributions, whose output differs between standard libraries).
#pragma once

#include <cstdint>
#include <vector>

namespace attn::cad::sim {

struct LengthDistribution {
  int64_t max_length = 131072;  // the context length: longer documents are cut to it
  double short_median = 1024;   // the log-normal body's median and log-space sigma
  double short_sigma = 1.5;
  double long_share = 0.05;  // fraction of documents drawn from the long tail instead
  // The tail: log-uniform in [long_min, long_max] tokens, cut to max_length. Fixed in tokens, not
  // relative to the context, so a longer context admits longer documents of the same corpus.
  int64_t long_min = 16384, long_max = 524288;
  // When not empty, the body draws from these lengths (with replacement) times `empirical_scale`
  // instead of the log-normal.
  std::vector<int64_t> empirical;
  double empirical_scale = 1;
};

class LengthSampler {
 public:
  LengthSampler(LengthDistribution dist, uint64_t seed);  // throws kInput on a bad distribution
  int64_t next();

 private:
  uint64_t bits();
  double uniform();  // (0, 1)

  LengthDistribution d_;
  uint64_t state_;
};

// Documents in draw order until they hold exactly `tokens` tokens (the last one cut to fit).
std::vector<int64_t> sample_batch(LengthSampler& sampler, int64_t tokens);

}  // namespace attn::cad::sim
