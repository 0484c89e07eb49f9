// CUDA embedding lookup (f32): out[t] = table[ids[t]]; the backward adds each id's rows of dout
// in token order from a plan the op builds on the host (no atomics). Device pointers.
#pragma once

#include <cstdint>

namespace attn::cuda {

// table [vocab, dim]; ids [n] (validated by the op); out [n, dim]
void embedding_forward(float* out, const int32_t* ids, const float* table, int64_t n, int64_t dim);
void embedding_forward(float* out, const int64_t* ids, const float* table, int64_t n, int64_t dim);

// For each segment s: dtable[segment_ids[s]] += dout[order[k]] for k in
// [segment_starts[s], segment_starts[s + 1]), added one after another in k order. With `order`
// the token positions stably sorted by id, this is the CPU kernel's order to the bit.
// order [n]; segment_ids [segments] (distinct); segment_starts [segments + 1]
void embedding_backward(float* dtable, const float* dout, const int64_t* order,
                        const int64_t* segment_ids, const int64_t* segment_starts, int64_t segments,
                        int64_t dim);

}  // namespace attn::cuda
