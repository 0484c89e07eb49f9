// Masks come with the batch: core_options() builds every variant's core-attention options from
// the batch's mask and the layer's spec, and each mask source changes what a layer sees.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/core/error.h"
#include "framework/core/param_store.h"
#include "layers/attention/core_options.h"
#include "tests/layers/attention/variant_test_util.h"
#include "tests/support/random.h"

namespace attn {
namespace {

namespace cfg = attnlab::config;

AttentionSpec spec_with_window(int window) {
  cfg::Attention a = test::default_attention(cfg::Attention::SOFTMAX);
  a.set_window(window);
  a.set_block_q(16);
  a.set_block_k(32);
  return test::small_spec(a);
}

TEST(CoreOptions, CausalDocumentsByDefault) {
  const PackedSequences seq = test::two_documents();
  const CoreAttentionOptions o = core_options(spec_with_window(0), seq, false);
  EXPECT_EQ(o.mask.kind, MaskKind::kCausal);
  EXPECT_EQ(o.mask.window, 0);
  EXPECT_EQ(o.block_q, 16);
  EXPECT_EQ(o.block_k, 32);
  EXPECT_FALSE(o.stats.entropy || o.stats.first_token_mass);
  const CoreAttentionOptions d = core_options(spec_with_window(0), seq, true);
  EXPECT_TRUE(d.stats.entropy && d.stats.first_token_mass);
}

TEST(CoreOptions, WindowComesFromTheModelAndMaskFromTheBatch) {
  PackedSequences seq = test::two_documents();
  seq.mask.kind = MaskKind::kFull;
  const CoreAttentionOptions o = core_options(spec_with_window(2), seq, false);
  EXPECT_EQ(o.mask.kind, MaskKind::kFull);
  EXPECT_EQ(o.mask.window, 2);
  seq.mask.window = 3;  // a batch never brings its own window
  EXPECT_THROW(core_options(spec_with_window(0), seq, false), Error);
}

TEST(CoreOptions, SegmentRunsPassThrough) {
  PackedSequences seq = test::two_documents();
  seq.mask.kind = MaskKind::kSegment;
  seq.mask.segment_ids = Tensor::from_vector<int32_t>({8}, {0, 0, 1, 0, 0, 1, 1, 2});
  seq.mask.segment_kinds = Tensor::from_vector<int32_t>({3}, {0, 1, 2});
  const CoreAttentionOptions o = core_options(spec_with_window(0), seq, false);
  EXPECT_EQ(o.mask.kind, MaskKind::kSegment);
  EXPECT_EQ(o.mask.segment_ids.to_vector<int32_t>(), seq.mask.segment_ids.to_vector<int32_t>());
  EXPECT_EQ(o.mask.segment_kinds.to_vector<int32_t>(), seq.mask.segment_kinds.to_vector<int32_t>());
}

// How much the output rows of the first document change when its last token's input moves.
std::vector<double> row_change(cfg::Attention::Kind kind, const PackedSequences& seq) {
  ParamStore store(DType::kF64);
  auto layer = make_attention(store, "attn", test::small_spec(test::default_attention(kind), 4, 4));
  store.finalize();
  store.initialize(7);
  Tensor x = test::random_normal({8, 8}, 5);
  AttentionContext ctx{seq, local_core_attention()};
  const std::vector<double> a = layer->forward(x, ctx).to_vector<double>();
  x.data<double>()[2 * 8] += 1.0;  // token 2: the last of document 0
  const std::vector<double> b = layer->forward(x, ctx).to_vector<double>();
  std::vector<double> change(8, 0.0);
  for (int t = 0; t < 8; ++t)
    for (int c = 0; c < 8; ++c) change[t] += std::abs(a[t * 8 + c] - b[t * 8 + c]);
  return change;
}

TEST(BatchMask, EveryVariantFollowsTheBatchMask) {
  for (auto kind :
       {cfg::Attention::SOFTMAX, cfg::Attention::SINK, cfg::Attention::GATED,
        cfg::Attention::DIFFERENTIAL, cfg::Attention::GROUPED_DIFFERENTIAL, cfg::Attention::MOH}) {
    SCOPED_TRACE(cfg::Attention::Kind_Name(kind));
    PackedSequences seq = test::two_documents();
    const std::vector<double> causal = row_change(kind, seq);
    EXPECT_EQ(causal[0], 0.0);  // earlier tokens never see a later one
    EXPECT_EQ(causal[1], 0.0);
    seq.mask.kind = MaskKind::kFull;
    const std::vector<double> full = row_change(kind, seq);
    EXPECT_GT(full[0], 1e-6);  // bidirectional: token 0 sees token 2
    EXPECT_EQ(full[3], 0.0);   // never across documents
    // Document 0 as one context run (tokens 0-1) and a response (token 2): the context does not
    // see the response; document 1 is one response run (causal). Run ids index one kinds table.
    seq.mask.kind = MaskKind::kSegment;
    seq.mask.segment_ids = Tensor::from_vector<int32_t>({8}, {0, 0, 1, 2, 2, 2, 2, 2});
    seq.mask.segment_kinds = Tensor::from_vector<int32_t>({3}, {0, 1, 1});
    const std::vector<double> seg = row_change(kind, seq);
    EXPECT_EQ(seg[0], 0.0);
    EXPECT_EQ(seg[1], 0.0);
    EXPECT_GT(seg[2], 1e-6);
  }
}

TEST(BatchMask, AffineScaledRefusesNonCausalBatches) {
  ParamStore store(DType::kF64);
  auto layer = make_attention(
      store, "attn", test::small_spec(test::default_attention(cfg::Attention::AFFINE_SCALED)));
  store.finalize();
  store.initialize(7);
  PackedSequences seq = test::two_documents();
  seq.mask.kind = MaskKind::kFull;
  AttentionContext ctx{seq, local_core_attention()};
  EXPECT_THROW(layer->forward(test::random_normal({8, 8}, 5), ctx), Error);
}

}  // namespace
}  // namespace attn
