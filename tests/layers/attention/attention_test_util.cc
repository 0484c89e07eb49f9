#include "tests/layers/attention/attention_test_util.h"

#include <fmt/format.h>

#include "framework/rng/philox.h"
#include "tests/support/random.h"

namespace attn::test {

namespace {

// Uniform integer in [lo, hi] from (seed, counter).
int64_t pick(uint64_t seed, uint64_t counter, int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(philox4x32(seed, 77, counter)[0] % uint64_t(hi - lo + 1));
}

Tensor cu_seqlens(const std::vector<int32_t>& lens) {
  std::vector<int32_t> cu = {0};
  for (int32_t l : lens) cu.push_back(cu.back() + l);
  return Tensor::from_vector<int32_t>({static_cast<int64_t>(cu.size())}, cu);
}

int64_t total(const std::vector<int32_t>& lens) {
  int64_t t = 0;
  for (int32_t l : lens) t += l;
  return t;
}

}  // namespace

AttentionInputs make_inputs(const AttentionCase& c, uint64_t seed, DType dtype) {
  AttentionInputs in;
  const int64_t tq = total(c.q_lens), tk = total(c.k_lens);
  in.q = random_normal({tq, c.heads, c.d}, seed * 10 + 1, dtype);
  in.k = random_normal({tk, c.kv_heads, c.d}, seed * 10 + 2, dtype);
  in.v = random_normal({tk, c.kv_heads, c.dv}, seed * 10 + 3, dtype);
  in.dout = random_normal({tq, c.heads, c.dv}, seed * 10 + 4, dtype, 1.0, false);
  if (c.sink) in.sink = random_normal({c.heads}, seed * 10 + 5, dtype);
  in.cu_q = cu_seqlens(c.q_lens);
  in.cu_k = cu_seqlens(c.k_lens);
  return in;
}

void random_segments(const std::vector<int32_t>& lens, uint64_t seed, AttentionMask& mask) {
  std::vector<int32_t> ids, kinds;
  uint64_t counter = 0;
  for (int32_t len : lens) {
    int64_t runs = std::min<int64_t>(len, pick(seed, counter++, 1, 4));
    int64_t start = 0;
    for (int64_t r = 0; r < runs; ++r) {
      int64_t left = len - start, remaining_runs = runs - r;
      int64_t size = r + 1 == runs ? left : pick(seed, counter++, 1, left - (remaining_runs - 1));
      // Padding only as the last run of a document; other runs context or response.
      int32_t kind = (r + 1 == runs && runs > 1 && pick(seed, counter++, 0, 2) == 0)
                         ? int32_t(SegmentKind::kPadding)
                         : int32_t(pick(seed, counter++, 0, 1));
      kinds.push_back(kind);
      for (int64_t i = 0; i < size; ++i) ids.push_back(static_cast<int32_t>(kinds.size() - 1));
      start += size;
    }
  }
  mask.kind = MaskKind::kSegment;
  mask.segment_ids = Tensor::from_vector<int32_t>({static_cast<int64_t>(ids.size())}, ids);
  mask.segment_kinds = Tensor::from_vector<int32_t>({static_cast<int64_t>(kinds.size())}, kinds);
}

std::vector<AttentionCase> random_case_table() {
  const std::vector<int32_t> special = {1, 2, 3, 7, 13, 31, 61, 64, 65, 127, 128, 129, 257, 300};
  const int64_t dims[] = {16, 64, 128};
  const int64_t ratios[] = {1, 2, 4};
  const int64_t blocks[][2] = {{64, 128}, {16, 32}, {7, 13}, {1, 1}, {128, 64}};
  const char* kinds[] = {"causal", "full", "window", "bottom_right", "segment"};
  std::vector<AttentionCase> table;
  for (uint64_t n = 0; n < 40; ++n) {
    const uint64_t s = 1000 + n;
    AttentionCase c;
    const int mask = static_cast<int>(n % 5);
    c.kv_heads = pick(s, 1, 1, 2);
    c.heads = c.kv_heads * ratios[pick(s, 2, 0, 2)];
    c.d = dims[pick(s, 3, 0, 2)];
    c.dv = pick(s, 4, 0, 3) == 0 ? 2 * c.d : c.d;  // differential attention: d_v = 2 d
    c.sink = pick(s, 5, 0, 1) == 1;
    const int64_t b = pick(s, 6, 0, 4);
    c.options.block_q = blocks[b][0];
    c.options.block_k = blocks[b][1];
    // Big head dims and long documents make the O(T^2) reference slow: keep T * d bounded.
    const int64_t docs = pick(s, 7, 1, 5);
    // 1x1 tiles make one BLAS call per score: keep those documents short too.
    const int64_t max_len = c.options.block_k == 1 ? 40 : c.d >= 128 ? 130 : 300;
    for (int64_t i = 0; i < docs; ++i) {
      int32_t len = pick(s, 10 + i, 0, 1) ? special[pick(s, 20 + i, 0, 13)]
                                          : static_cast<int32_t>(pick(s, 30 + i, 1, 300));
      len = static_cast<int32_t>(std::min<int64_t>(len, max_len));
      c.k_lens.push_back(len);
      // Bottom-right causal: a query slice that is the last q_len positions of the keys.
      c.q_lens.push_back(mask == 3 ? static_cast<int32_t>(pick(s, 40 + i, 1, len)) : len);
    }
    if (mask == 1) c.options.mask.kind = MaskKind::kFull;
    if (mask == 2) c.options.mask.window = pick(s, 8, 1, 40);
    if (mask == 4) random_segments(c.q_lens, s, c.options.mask);
    c.options.stats.entropy = c.options.stats.prob_sq_sum = true;
    c.options.stats.first_token_mass = c.options.stats.key_mass = true;
    c.name = fmt::format("case{} {} docs={} H={} Hkv={} d={} dv={} sink={} blocks={}x{}", n,
                         kinds[mask], docs, c.heads, c.kv_heads, c.d, c.dv, c.sink,
                         c.options.block_q, c.options.block_k);
    table.push_back(c);
  }
  return table;
}

}  // namespace attn::test
