// Dense attention weights of one layer of a trained model on a given text, for `attnlab attnmap`:
// one document, every head, with the tokens as printable labels.
#pragma once

#include <string>
#include <vector>

#include "layers/models/gpt.h"
#include "recipes/data/tokenizer.h"

namespace attn {

struct AttentionMapResult {
  AttentionMapRequest map;          // weights [heads, T, T] of the requested layer
  std::vector<std::string> labels;  // printable text of each of the T tokens ("BOS" for it)
  // Per head: the mean weight on the first column over rows 1 .. T-1 (row 0 sees only it), the
  // attention-sink mass a newcomer looks for first.
  std::vector<double> first_column_mass;
};

// Runs the model in eval mode on `text` (at most `context` tokens: longer texts are cut, keeping
// the start; a model trained with BOS gets it first, as in training) and returns the weights of
// block `layer`. Errors name the bad argument.
AttentionMapResult attention_map(const Gpt& model, const Tokenizer& tokenizer,
                                 const std::string& text, int layer, int64_t context);

}  // namespace attn
