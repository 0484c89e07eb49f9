#include "tools/bench/gpt_bench_common.h"

#include <algorithm>

#include "framework/core/error.h"
#include "framework/rng/philox.h"

namespace attn::bench {

GptConfig peer_gpt_config(const GptBenchShape& s, MlpType mlp) {
  GptConfig g;
  g.vocab_size = s.vocab;
  g.width = s.d_model;
  g.layers = s.layers;
  g.heads = s.heads;
  g.kv_heads = s.heads;
  g.mlp_hidden = 4 * s.d_model;
  g.mlp = mlp;
  g.max_seq_len = s.seq;
  g.scale_residual_init = false;
  return g;
}

AdamWOptions peer_adamw_options(double lr) {
  return {.lr = lr,
          .beta1 = 0.9,
          .beta2 = 0.999,
          .eps = 1e-8,
          .weight_decay = 0.1,
          .decay = DecayPolicy::kAll};
}

GptInput random_gpt_batch(const GptBenchShape& s, uint64_t seed, uint64_t i, Device device) {
  const int64_t n = s.batch * s.seq;
  Tensor ids = Tensor::empty({s.batch * (s.seq + 1)}, DType::kF64);
  fill_uniform(ids, seed, i, 0.0, static_cast<double>(s.vocab));
  const std::vector<double> u = ids.to_vector<double>();
  std::vector<int32_t> tokens(n), targets(n), positions(n), cu(s.batch + 1);
  for (int64_t r = 0; r < s.batch; ++r) {
    // Row r holds seq + 1 ids: inputs are ids[0, seq), targets ids[1, seq].
    const auto id = [&](int64_t k) {
      return std::min<int32_t>(static_cast<int32_t>(u[r * (s.seq + 1) + k]),
                               static_cast<int32_t>(s.vocab - 1));
    };
    for (int64_t t = 0; t < s.seq; ++t) {
      tokens[r * s.seq + t] = id(t);
      targets[r * s.seq + t] = id(t + 1);
      positions[r * s.seq + t] = static_cast<int32_t>(t);
    }
    cu[r + 1] = static_cast<int32_t>((r + 1) * s.seq);
  }
  GptInput in;
  in.tokens = Tensor::from_vector<int32_t>({n}, tokens, device);
  in.targets = Tensor::from_vector<int32_t>({n}, targets, device);
  in.seq.positions = Tensor::from_vector<int32_t>({n}, positions, device);
  in.seq.cu_seqlens = Tensor::from_vector<int32_t>({s.batch + 1}, cu);
  return in;
}

double peer_matmul_flops_per_step(const GptBenchShape& s) {
  const double B = s.batch, T = s.seq, d = s.d_model, L = s.layers, V = s.vocab;
  return 3 * (L * (2 * B * T * 12 * d * d + 2 * 2 * B * T * T * d) + 2 * B * T * d * V);
}

TimeSummary summarize(std::vector<double> times) {
  ATTN_CHECK(!times.empty(), "summarize: no timings");
  std::sort(times.begin(), times.end());
  const size_t m = times.size();
  const double med = m % 2 ? times[m / 2] : 0.5 * (times[m / 2 - 1] + times[m / 2]);
  return {med, times.front(), times.back()};
}

}  // namespace attn::bench
