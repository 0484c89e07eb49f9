#include "tests/layers/attention/variant_test_util.h"

#include "framework/config/recipe_loader.h"
#include "framework/core/error.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn::test {

attnlab::config::Attention default_attention(attnlab::config::Attention::Kind kind) {
  attnlab::config::Attention a = config::load_recipe_from_string("", "defaults").attention();
  a.set_kind(kind);
  return a;
}

AttentionSpec small_spec(const attnlab::config::Attention& options, int64_t heads, int64_t kv_heads,
                         bool rope) {
  AttentionSpec s;
  s.width = 8;
  s.heads = heads;
  s.kv_heads = kv_heads;
  s.head_dim = 8 / heads;
  s.init_std = s.proj_init_std = 0.5;
  s.rope = rope;
  s.layer = 1;
  s.num_layers = 2;
  s.options = options;
  return s;
}

PackedSequences two_documents() {
  PackedSequences seq;
  seq.positions = Tensor::from_vector<int32_t>({8}, {0, 1, 2, 0, 1, 2, 3, 4});
  seq.cu_seqlens = Tensor::from_vector<int32_t>({3}, {0, 3, 8});
  return seq;
}

void perturb_constant_params(ParamStore& store) {
  for (const ParamInfo& p : store.params()) {
    if (!p.trainable) {  // buffers (e.g. a moving average): generic nonzero values
      double* d = p.tensor.data<double>();
      for (int64_t i = 0; i < p.tensor.numel(); ++i) d[i] = 0.4 + 0.2 * static_cast<double>(i);
      continue;
    }
    const bool constant_init =
        p.init.kind != ParamInit::Kind::kNormal && p.init.kind != ParamInit::Kind::kUniform;
    if (!constant_init) continue;
    double* d = p.tensor.data<double>();
    for (int64_t i = 0; i < p.tensor.numel(); ++i) d[i] += 0.1 * static_cast<double>(i % 5) - 0.2;
  }
}

void expect_config_error(const AttentionSpec& spec, const std::string& where) {
  ParamStore store;
  try {
    make_attention(store, "attn", spec);
    ADD_FAILURE() << "accepted a bad config, expected an error naming " << where;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig) << e.what();
    EXPECT_EQ(e.where(), where) << e.what();
  }
}

::testing::AssertionResult gradcheck_variant(const AttentionSpec& spec, uint64_t seed) {
  ParamStore store(DType::kF64);
  std::unique_ptr<AttentionLayer> layer = make_attention(store, "attn", spec);
  store.finalize();
  store.initialize(seed);
  perturb_constant_params(store);
  const PackedSequences seq = two_documents();
  std::vector<Tensor> inputs{random_normal({8, spec.width}, seed + 100)};
  for (const ParamInfo& p : store.params())
    if (p.trainable) inputs.push_back(p.tensor);
  return gradcheck(
      [&](const std::vector<Tensor>& in) {
        AttentionContext ctx{seq, local_core_attention()};
        return layer->forward(in[0], ctx);
      },
      inputs, {.eps = 1e-6, .atol = 1e-8, .rtol = 1e-5});
}

void expect_causal_rows_sum_to(const AttentionMapRequest& map, double row_sum,
                               const std::string& what) {
  const int64_t T = map.tokens;
  ASSERT_EQ(map.weights.size(), static_cast<size_t>(map.heads * T * T)) << what;
  for (int64_t h = 0; h < map.heads; ++h)
    for (int64_t i = 0; i < T; ++i) {
      double s = 0;
      for (int64_t j = 0; j < T; ++j) {
        const double w = map.weights[(h * T + i) * T + j];
        s += w;
        if (j > i) {
          EXPECT_EQ(w, 0.0) << what << " head " << h << " row " << i << " column " << j;
        }
      }
      EXPECT_NEAR(s, row_sum, 1e-12) << what << " head " << h << " row " << i;
    }
}

}  // namespace attn::test
