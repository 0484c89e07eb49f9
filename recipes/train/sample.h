// Text generation from a trained GPT: temperature and top-k sampling with a seeded Philox
// stream (same seed, same text), streaming each token's text as it is produced.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "layers/models/gpt.h"
#include "recipes/data/tokenizer.h"

namespace attn {

struct SampleOptions {
  std::string prompt;
  int64_t tokens = 200;      // tokens to generate
  double temperature = 0.8;  // 0 = greedy
  int64_t top_k = 40;        // 0 = the whole vocabulary
  uint64_t seed = 1;
};

// Generates after `prompt` with a sliding window of `context` tokens (the model's seq_len) and
// returns the generated text (without the prompt); `on_text` sees it piece by piece.
std::string sample(const Gpt& model, const Tokenizer& tokenizer, const SampleOptions& options,
                   int64_t context, const std::function<void(std::string_view)>& on_text = {});

}  // namespace attn
