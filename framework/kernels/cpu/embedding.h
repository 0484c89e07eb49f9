// Embedding lookup: out[t] = table[ids[t]]; backward scatters rows of dout into dtable.
// Ids must be validated by the caller (the op) before these run.
#pragma once

#include <cstdint>

namespace attn::cpu {

// table [vocab, dim]; ids [n]; out [n, dim]
template <typename T, typename I>
void embedding_forward(T* out, const I* ids, const T* table, int64_t n, int64_t dim);

// dtable[ids[t]] += dout[t]. Tasks own column blocks and walk tokens in order: deterministic
// even when ids repeat.
template <typename T, typename I>
void embedding_backward(T* dtable, const T* dout, const I* ids, int64_t n, int64_t dim);

}  // namespace attn::cpu
