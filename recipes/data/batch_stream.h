// What a procedure draws its batches from: token shards (TokenLoader) or SFT examples
// (SftLoader). Both are deterministic for a seed and resumable from LoaderState.
#pragma once

#include "recipes/data/batch.h"

namespace attn {

class BatchStream {
 public:
  virtual ~BatchStream() = default;
  virtual Batch next() = 0;
  // Training streams never run out (epochs wrap); evaluation streams make one pass.
  virtual bool has_next() const = 0;
  virtual LoaderState state() const = 0;
  // attn::Error(kInput) if the state does not fit this stream (cursor out of range).
  virtual void restore(const LoaderState& state) = 0;
};

}  // namespace attn
