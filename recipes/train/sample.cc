#include "recipes/train/sample.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/rng/philox.h"

namespace attn {

namespace {

// Picks the next token from one row of logits: greedy at temperature 0, else softmax over the
// top_k largest logits (ties broken by id, so the choice is deterministic) at `temperature`.
// `never` (BOS: it starts a context, nothing follows it) is not a candidate; -1 = none.
int32_t pick(const float* logits, int64_t vocab, const SampleOptions& o, uint64_t draw,
             int32_t never) {
  std::vector<int32_t> ids;
  ids.reserve(vocab);
  for (int32_t id = 0; id < vocab; ++id)
    if (id != never) ids.push_back(id);
  vocab = static_cast<int64_t>(ids.size());
  const auto better = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  if (o.temperature <= 0) return *std::min_element(ids.begin(), ids.end(), better);
  const int64_t k = o.top_k > 0 ? std::min(o.top_k, vocab) : vocab;
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), better);
  std::vector<double> p(k);
  const double top = logits[ids[0]];
  double total = 0;
  for (int64_t i = 0; i < k; ++i) total += p[i] = std::exp((logits[ids[i]] - top) / o.temperature);
  const double u = uint_to_unit(philox4x32(o.seed, rng_stream(0x5a4d, draw), 0)[0]) * total;
  double acc = 0;
  for (int64_t i = 0; i < k; ++i)
    if ((acc += p[i]) >= u) return ids[i];
  return ids[k - 1];
}

}  // namespace

std::string sample(const Gpt& model, const Tokenizer& tokenizer, const SampleOptions& o,
                   int64_t context, const std::function<void(std::string_view)>& on_text) {
  if (o.temperature < 0 || !std::isfinite(o.temperature))
    throw Error(ErrorKind::kInput, "--temperature", "must be a finite number >= 0");
  if (o.top_k < 0) throw Error(ErrorKind::kInput, "--top-k", "must be >= 0");
  // A model trained with BOS starts every context with it (an empty prompt is BOS alone).
  // Without, an empty prompt starts from a newline: byte and BPE vocabularies both have one, and
  // text after a line break is the most typical start of a document.
  const int32_t bos = bos_of(tokenizer);
  std::vector<int32_t> tokens;
  if (bos >= 0) tokens.push_back(bos);
  const std::vector<int32_t> prompt =
      tokenizer.encode(o.prompt.empty() && bos < 0 ? "\n" : o.prompt);
  tokens.insert(tokens.end(), prompt.begin(), prompt.end());
  const int64_t vocab = model.config().vocab_size;
  for (int32_t t : tokens)
    if (t < 0 || t >= vocab)
      throw Error(ErrorKind::kInput, "--prompt",
                  fmt::format("token {} is outside the model's vocabulary of {}", t, vocab));
  NoGrad no_grad;
  std::string text;
  for (int64_t i = 0; i < o.tokens; ++i) {
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(tokens.size()), context);
    std::vector<int32_t> window(tokens.end() - n, tokens.end()), positions(n);
    if (bos >= 0) window.front() = bos;  // a sliding context keeps its BOS, as in training
    std::iota(positions.begin(), positions.end(), 0);
    GptInput in;
    in.tokens = Tensor::from_vector<int32_t>({n}, window);
    in.seq.positions = Tensor::from_vector<int32_t>({n}, positions);
    in.seq.cu_seqlens = Tensor::from_vector<int32_t>({2}, {0, static_cast<int32_t>(n)});
    const Tensor logits = model.logits(in);
    const int32_t next = pick(logits.data<float>() + (n - 1) * vocab, vocab, o, i, bos);
    tokens.push_back(next);
    const std::string piece = tokenizer.decode({next});
    text += piece;
    if (on_text) on_text(piece);
  }
  return text;
}

}  // namespace attn
