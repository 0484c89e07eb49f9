#include "recipes/train/attention_map.h"

#include <numeric>

#include <fmt/format.h>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"

namespace attn {

namespace {

// A token's text made printable on one line: control bytes become their escapes.
std::string printable(const std::string& piece) {
  std::string out;
  for (unsigned char c : piece) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c < 32 || c == 127)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

}  // namespace

AttentionMapResult attention_map(const Gpt& model, const Tokenizer& tokenizer,
                                 const std::string& text, int layer, int64_t context) {
  const int64_t layers = model.config().layers;
  if (layer < 0 || layer >= layers)
    throw Error(ErrorKind::kInput, "--layer",
                fmt::format("{} is not a layer of this model (0 .. {})", layer, layers - 1));
  if (text.empty()) throw Error(ErrorKind::kInput, "--text", "is empty");
  const int32_t bos = bos_of(tokenizer);
  std::vector<int32_t> tokens = tokenizer.encode(text);
  if (bos >= 0) tokens.insert(tokens.begin(), bos);
  if (static_cast<int64_t>(tokens.size()) > context) tokens.resize(context);
  const int64_t n = static_cast<int64_t>(tokens.size());
  for (int32_t t : tokens)
    if (t < 0 || t >= model.config().vocab_size)
      throw Error(ErrorKind::kInput, "--text",
                  fmt::format("token {} is outside the model's vocabulary", t));
  std::vector<int32_t> positions(n);
  std::iota(positions.begin(), positions.end(), 0);
  GptInput in;
  in.tokens = Tensor::from_vector<int32_t>({n}, tokens);
  in.seq.positions = Tensor::from_vector<int32_t>({n}, positions);
  in.seq.cu_seqlens = Tensor::from_vector<int32_t>({2}, {0, static_cast<int32_t>(n)});
  AttentionMapResult r;
  r.map.layer = layer;
  GptForward f;
  f.map = &r.map;
  NoGrad no_grad;
  model.logits(in, f);
  if (r.map.weights.empty())
    throw Error(ErrorKind::kInput, "--layer",
                fmt::format("layer {}'s attention variant does not report dense maps", layer));
  for (int32_t t : tokens) r.labels.push_back(t == bos ? "BOS" : printable(tokenizer.decode({t})));
  for (int64_t h = 0; h < r.map.heads; ++h) {
    double sum = 0;
    for (int64_t i = 1; i < n; ++i) sum += r.map.weights[(h * n + i) * n];
    r.first_column_mass.push_back(n > 1 ? sum / static_cast<double>(n - 1) : 1.0);
  }
  return r;
}

}  // namespace attn
