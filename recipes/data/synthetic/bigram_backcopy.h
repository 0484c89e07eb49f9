// The Bigram-Backcopy task (Guo et al. 2024, "Active-Dormant Attention Heads", arXiv
// 2410.13835): the toy language on which 1-3 layer transformers grow attention sinks, value-state
// drains and residual-state peaks within a few thousand steps.
//
// Symbols 0 .. V-1 and BOS = V. A sequence is BOS, then a first symbol drawn uniformly from the
// non-triggers, then: after a non-trigger v the next symbol follows the bigram row P(. | v);
// after a trigger the next symbol copies the symbol before the trigger. The bigram matrix is
// drawn once from the seed (row v = softmax of N(0, logit_std^2) logits); the triggers are the
// `triggers` symbols of highest stationary probability under it (the paper takes the most
// frequent characters). A trigger is only ever reached from a non-trigger, and what it copies is
// that non-trigger, so copies never chain.
//
// Predicting the next symbol needs attention only after a trigger (to the previous token); every
// other prediction is a function of the current token, so a head that serves the copy has
// nothing to do on the rest: that is where the sink forms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace attn {

struct BigramBackcopyOptions {
  uint64_t seed = 1;
  int vocab = 64;  // symbols besides BOS
  int triggers = 3;
  double logit_std = 1.5;
};

enum class BbSplit { kTrain, kVal };

class BigramBackcopy {
 public:
  // kConfig naming the field when the options cannot make a task (triggers >= vocab, ...).
  explicit BigramBackcopy(const BigramBackcopyOptions& options);

  int vocab() const { return o_.vocab; }
  int32_t bos() const { return o_.vocab; }
  bool is_trigger(int32_t symbol) const;
  const std::vector<int32_t>& triggers() const { return triggers_; }
  // P(next = b | current = a), row-major [vocab, vocab].
  double transition(int32_t a, int32_t b) const {
    return p_[static_cast<size_t>(a) * o_.vocab + b];
  }

  // Sequence `index` of a split: BOS followed by `length` symbols (length + 1 tokens). The same
  // (options, split, index) always give the same sequence.
  std::vector<int32_t> sequence(BbSplit split, uint64_t index, int64_t length) const;

  // The expected cross-entropy (nats per predicted token) of the Bayes-optimal predictor on the
  // `length` targets of a sequence (the inputs BOS .. x_{length-1}): log(V - k) for the first,
  // then the entropy of the current symbol's bigram row, or 0 after a trigger, averaged over
  // positions under the exact distribution of the chain.
  double optimal_loss(int64_t length) const;
  // The Bayes-optimal predictor's nats on the targets of one sequence (BOS, x_1 .. x_L): the
  // sum of -log p(x_{i+1} | x_0 .. x_i) over its L targets.
  double optimal_nats(const std::vector<int32_t>& sequence) const;

 private:
  BigramBackcopyOptions o_;
  std::vector<double> p_;           // [vocab, vocab]
  std::vector<double> cumulative_;  // row-wise running sums of p_, for sampling
  std::vector<int32_t> triggers_;
  std::vector<char> trigger_;  // [vocab]
};

}  // namespace attn
