#include "parallel/cad/sim/doc_lengths.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"

namespace attn::cad::sim {

LengthSampler::LengthSampler(LengthDistribution dist, uint64_t seed)
    : d_(std::move(dist)), state_(seed ^ 0x6a09e667f3bcc909ull) {
  if (d_.max_length < 1) ATTN_FAIL(kInput, "cad-sim: the context length must be positive");
  if (!(d_.short_median >= 1) || !(d_.short_sigma >= 0))
    ATTN_FAIL(kInput, "cad-sim: the short-document median must be >= 1 and sigma >= 0");
  if (!(d_.long_share >= 0 && d_.long_share <= 1))
    ATTN_FAIL(kInput, "cad-sim: long_share {} must be in [0, 1]", d_.long_share);
  if (d_.long_min < 1 || d_.long_max < d_.long_min)
    ATTN_FAIL(kInput, "cad-sim: the long tail [{}, {}] must satisfy 1 <= long_min <= long_max",
              d_.long_min, d_.long_max);
  if (!(d_.empirical_scale > 0)) ATTN_FAIL(kInput, "cad-sim: the length scale must be positive");
  for (int64_t l : d_.empirical)
    if (l < 1) ATTN_FAIL(kInput, "cad-sim: an empirical document length of {} tokens", l);
}

// splitmix64: tiny, well mixed, and the same sequence everywhere.
uint64_t LengthSampler::bits() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double LengthSampler::uniform() {
  return (static_cast<double>(bits() >> 11) + 0.5) * 0x1.0p-53;
}

int64_t LengthSampler::next() {
  double length;
  if (uniform() < d_.long_share) {
    const double lo = std::log(static_cast<double>(d_.long_min));
    length = std::exp(lo + uniform() * (std::log(static_cast<double>(d_.long_max)) - lo));
  } else if (!d_.empirical.empty()) {
    const size_t i = static_cast<size_t>(bits() % d_.empirical.size());
    length = static_cast<double>(d_.empirical[i]) * d_.empirical_scale;
  } else {
    // Box-Muller: one normal from two uniforms.
    const double z = std::sqrt(-2 * std::log(uniform())) * std::cos(6.283185307179586 * uniform());
    length = d_.short_median * std::exp(d_.short_sigma * z);
  }
  return std::clamp<int64_t>(std::llround(length), 1, d_.max_length);
}

std::vector<int64_t> sample_batch(LengthSampler& sampler, int64_t tokens) {
  std::vector<int64_t> lengths;
  for (int64_t left = tokens; left > 0;) {
    const int64_t l = std::min(left, sampler.next());
    lengths.push_back(l);
    left -= l;
  }
  return lengths;
}

}  // namespace attn::cad::sim
