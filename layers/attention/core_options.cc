#include "layers/attention/core_options.h"

#include "framework/core/error.h"

namespace attn {

CoreAttentionOptions core_options(const AttentionSpec& spec, const PackedSequences& seq,
                                  bool diagnose) {
  ATTN_CHECK(seq.mask.window == 0,
             "core_options: a batch's mask carries no window (got {}); the sliding window is "
             "attention.window",
             seq.mask.window);
  CoreAttentionOptions o;
  o.mask = seq.mask;
  o.mask.window = spec.options.window();
  if (spec.options.block_q() > 0) o.block_q = spec.options.block_q();
  if (spec.options.block_k() > 0) o.block_k = spec.options.block_k();
  o.stats.first_token_mass = o.stats.entropy = diagnose;
  return o;
}

}  // namespace attn
