#include "recipes/data/synthetic/bigram_backcopy.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

#include "framework/core/error.h"
#include "framework/rng/philox.h"

namespace attn {

namespace {

constexpr uint64_t kMatrixStream = 0x4242'4d41;    // "BBMA"
constexpr uint64_t kSequenceStream = 0x4242'5351;  // "BBSQ"

// Draws of one sequence (or of the matrix): Philox on (seed, stream, counter).
class Draws {
 public:
  Draws(uint64_t seed, uint64_t stream) : seed_(seed), stream_(stream) {}
  double unit() { return uint_to_unit(philox4x32(seed_, stream_, counter_++)[0]); }  // (0, 1]
  double normal() {
    const double u1 = unit(), u2 = unit();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  uint64_t seed_, stream_, counter_ = 0;
};

}  // namespace

BigramBackcopy::BigramBackcopy(const BigramBackcopyOptions& o) : o_(o) {
  if (o.vocab < 3)
    ATTN_FAIL(kConfig, "data.bigram_backcopy.vocab: {} symbols, at least 3 are needed", o.vocab);
  if (o.triggers < 1 || o.triggers > o.vocab - 2)
    ATTN_FAIL(kConfig,
              "data.bigram_backcopy.triggers: {} triggers for {} symbols; between 1 and vocab - 2 "
              "(a copy needs at least two non-triggers to be informative)",
              o.triggers, o.vocab);
  if (!(o.logit_std >= 0) || !std::isfinite(o.logit_std))
    ATTN_FAIL(kConfig, "data.bigram_backcopy.logit_std: {} must be a finite number >= 0",
              o.logit_std);
  const size_t v = static_cast<size_t>(o.vocab);
  Draws draws(o.seed, kMatrixStream);
  p_.resize(v * v);
  for (size_t a = 0; a < v; ++a) {
    double* row = &p_[a * v];
    double top = -INFINITY;
    for (size_t b = 0; b < v; ++b) top = std::max(top, row[b] = o.logit_std * draws.normal());
    double total = 0;
    for (size_t b = 0; b < v; ++b) total += row[b] = std::exp(row[b] - top);
    for (size_t b = 0; b < v; ++b) row[b] /= total;
  }
  cumulative_.resize(v * v);
  for (size_t a = 0; a < v; ++a) std::partial_sum(&p_[a * v], &p_[a * v] + v, &cumulative_[a * v]);

  // Stationary distribution by power iteration (every entry is positive, so the chain mixes).
  std::vector<double> pi(v, 1.0 / static_cast<double>(v)), next(v);
  for (int it = 0; it < 10000; ++it) {
    std::fill(next.begin(), next.end(), 0.0);
    for (size_t a = 0; a < v; ++a)
      for (size_t b = 0; b < v; ++b) next[b] += pi[a] * p_[a * v + b];
    double change = 0;
    for (size_t b = 0; b < v; ++b) change += std::abs(next[b] - pi[b]);
    pi.swap(next);
    if (change < 1e-14) break;
  }
  std::vector<int32_t> order(v);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return pi[a] > pi[b]; });
  triggers_.assign(order.begin(), order.begin() + o.triggers);
  std::sort(triggers_.begin(), triggers_.end());
  trigger_.assign(v, 0);
  for (int32_t t : triggers_) trigger_[t] = 1;
}

bool BigramBackcopy::is_trigger(int32_t symbol) const {
  return symbol >= 0 && symbol < o_.vocab && trigger_[symbol];
}

std::vector<int32_t> BigramBackcopy::sequence(BbSplit split, uint64_t index, int64_t length) const {
  Draws draws(o_.seed, rng_stream(kSequenceStream, static_cast<uint64_t>(split), index));
  std::vector<int32_t> s;
  s.reserve(static_cast<size_t>(length) + 1);
  s.push_back(bos());
  if (length < 1) return s;
  // The first symbol: uniform over the non-triggers (a trigger needs a symbol before it).
  const int64_t free = o_.vocab - o_.triggers;
  int64_t pick = std::min<int64_t>(static_cast<int64_t>(draws.unit() * free), free - 1);
  for (int32_t c = 0; c < o_.vocab; ++c)
    if (!trigger_[c] && pick-- == 0) {
      s.push_back(c);
      break;
    }
  const size_t v = static_cast<size_t>(o_.vocab);
  while (static_cast<int64_t>(s.size()) < length + 1) {
    const int32_t cur = s.back();
    if (trigger_[cur]) {
      s.push_back(s[s.size() - 2]);
      continue;
    }
    const double* c = &cumulative_[static_cast<size_t>(cur) * v];
    const double u = draws.unit() * c[v - 1];
    const int32_t next = static_cast<int32_t>(std::lower_bound(c, c + v, u) - c);
    s.push_back(std::min<int32_t>(next, o_.vocab - 1));
  }
  return s;
}

double BigramBackcopy::optimal_nats(const std::vector<int32_t>& s) const {
  if (s.size() < 2) return 0;
  double nats = std::log(static_cast<double>(o_.vocab - o_.triggers));  // x_1 after BOS
  for (size_t i = 1; i + 1 < s.size(); ++i)
    if (!trigger_[s[i]]) nats -= std::log(transition(s[i], s[i + 1]));  // a copy costs nothing
  return nats;
}

double BigramBackcopy::optimal_loss(int64_t length) const {
  if (length < 1) return 0;
  const size_t v = static_cast<size_t>(o_.vocab);
  std::vector<double> entropy(v, 0.0), trigger_mass(v, 0.0);
  for (size_t a = 0; a < v; ++a)
    for (size_t b = 0; b < v; ++b) {
      const double p = p_[a * v + b];
      if (p > 0) entropy[a] -= p * std::log(p);
      if (trigger_[b]) trigger_mass[a] += p;
    }
  // free[x]: probability that the input at position i is the non-trigger x; copying[x]: that it
  // is a trigger reached from x (the next symbol is x, predicted at zero loss).
  std::vector<double> free(v, 0.0), copying(v, 0.0), next_free(v), next_copying(v);
  const double first = 1.0 / static_cast<double>(o_.vocab - o_.triggers);
  for (size_t x = 0; x < v; ++x)
    if (!trigger_[x]) free[x] = first;
  double total = std::log(static_cast<double>(o_.vocab - o_.triggers));  // target x_1 after BOS
  for (int64_t i = 1; i < length; ++i) {
    for (size_t x = 0; x < v; ++x) total += free[x] * entropy[x];
    next_free = copying;  // after a trigger comes the symbol before it
    for (size_t a = 0; a < v; ++a) {
      next_copying[a] = free[a] * trigger_mass[a];
      for (size_t b = 0; b < v; ++b)
        if (!trigger_[b]) next_free[b] += free[a] * p_[a * v + b];
    }
    free.swap(next_free);
    copying.swap(next_copying);
  }
  return total / static_cast<double>(length);
}

}  // namespace attn
