// Builders of random packed attention problems for the core-attention tests: documents of given
// lengths, every mask kind, GQA, sink; deterministic from a case number.
#pragma once

#include <string>
#include <vector>

#include "layers/attention/core_attention.h"

namespace attn::test {

struct AttentionCase {
  std::string name;
  std::vector<int32_t> q_lens, k_lens;  // per document
  int64_t heads = 2, kv_heads = 1, d = 16, dv = 16;
  bool sink = false;
  CoreAttentionOptions options;
};

struct AttentionInputs {
  Tensor q, k, v, cu_q, cu_k, sink, dout;
};

// Random inputs for a case, in `dtype`, with requires_grad on q, k, v (and sink).
AttentionInputs make_inputs(const AttentionCase& c, uint64_t seed, DType dtype = DType::kF64);

// Segment ids/kinds for documents of the given lengths: each document split into 1-4 runs of
// random kinds, sometimes ending in padding.
void random_segments(const std::vector<int32_t>& lens, uint64_t seed, AttentionMask& mask);

// The randomized table: lengths 1..300 (incl. 1 and primes), 1-5 documents, every mask kind,
// GQA ratios 1/2/4, with and without sink, head dims 16/64/128, block-size edges.
std::vector<AttentionCase> random_case_table();

}  // namespace attn::test
