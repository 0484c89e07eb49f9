// A sentence encoder small enough to train jointly with ABMIL from scratch: each sentence is the
// mean of its words' rows in one table of hashed word ids (fastText's bag of words without
// n-grams). It turns Brown sentences into the instance features of a MIL bag.
#pragma once

#include <string>
#include <vector>

#include "framework/core/param_store.h"

namespace attn {

class WordBagEncoder {
 public:
  // Declares "<name>.table" [buckets, width], initialised N(0, init_std^2), no weight decay (an
  // embedding table, as the GPT's).
  WordBagEncoder(ParamStore& store, int64_t buckets, int64_t width, double init_std,
                 const std::string& name = "encoder");

  // words: ids in [0, buckets) of all sentences back to back; sentence n is
  // words[offsets[n] .. offsets[n + 1]), each non-empty. Returns [sentences, width].
  Tensor forward(const std::vector<int32_t>& words, const std::vector<int64_t>& offsets) const;

  int64_t width() const { return width_; }

 private:
  int64_t buckets_, width_;
  Tensor table_;
};

}  // namespace attn
