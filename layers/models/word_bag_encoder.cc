#include "layers/models/word_bag_encoder.h"

#include "framework/core/error.h"
#include "framework/ops/embedding.h"
#include "framework/ops/matmul.h"

namespace attn {

WordBagEncoder::WordBagEncoder(ParamStore& store, int64_t buckets, int64_t width, double init_std,
                               const std::string& name)
    : buckets_(buckets), width_(width) {
  ATTN_CHECK(buckets > 0 && width > 0, "word bag encoder: buckets {} and width {} must be positive",
             buckets, width);
  table_ = store.declare(name + ".table", {buckets, width}, ParamInit::normal(init_std), false);
}

Tensor WordBagEncoder::forward(const std::vector<int32_t>& words,
                               const std::vector<int64_t>& offsets) const {
  ATTN_CHECK(offsets.size() >= 2 && offsets.front() == 0 &&
                 offsets.back() == static_cast<int64_t>(words.size()),
             "word bag encoder: offsets must run from 0 to the {} words", words.size());
  const int64_t sentences = static_cast<int64_t>(offsets.size()) - 1;
  const int64_t n = static_cast<int64_t>(words.size());
  for (int32_t w : words)
    ATTN_CHECK(w >= 0 && w < buckets_, "word bag encoder: id {} outside [0, {})", w, buckets_);
  // The mean over each sentence as one product with a constant averaging matrix: the gradient
  // reaches every word's row through the matmul and embedding backwards.
  std::vector<double> average(static_cast<size_t>(sentences * n), 0.0);
  for (int64_t s = 0; s < sentences; ++s) {
    const int64_t len = offsets[s + 1] - offsets[s];
    ATTN_CHECK(len > 0, "word bag encoder: sentence {} has no word", s);
    for (int64_t j = offsets[s]; j < offsets[s + 1]; ++j)
      average[s * n + j] = 1.0 / static_cast<double>(len);
  }
  const Tensor mean =
      Tensor::from_vector<double>({sentences, n}, average, table_.device()).to(table_.dtype());
  const Tensor ids = Tensor::from_vector<int32_t>({n}, words, table_.device());
  return matmul(mean, embedding(table_, ids));
}

}  // namespace attn
