// Float64 gradient checks of whole attention variant layers (input and every parameter) on a
// packed causal batch of two documents, for softmax, sink, gated and affine-scaled attention.
#include <gtest/gtest.h>

#include "tests/layers/attention/variant_test_util.h"

namespace attn {
namespace {

using test::default_attention;
using test::gradcheck_variant;
using test::small_spec;
using Kind = attnlab::config::Attention;

TEST(Gradcheck, AttentionSoftmax) {
  EXPECT_TRUE(gradcheck_variant(small_spec(default_attention(Kind::SOFTMAX))));
  attnlab::config::Attention a = default_attention(Kind::SOFTMAX);
  a.set_qk_norm(true);
  EXPECT_TRUE(gradcheck_variant(small_spec(a, 4, 2, true)));  // GQA, RoPE, QK-norm
  a.set_window(2);
  EXPECT_TRUE(gradcheck_variant(small_spec(a, 2, 1)));  // MQA, sliding window
}

TEST(Gradcheck, AttentionSink) {
  attnlab::config::Attention a = default_attention(Kind::SINK);
  a.mutable_sink()->set_mode(attnlab::config::Sink::LEARNABLE);
  EXPECT_TRUE(gradcheck_variant(small_spec(a, 2, 1, true)));
  a.mutable_sink()->set_mode(attnlab::config::Sink::OFF_BY_ONE);
  EXPECT_TRUE(gradcheck_variant(small_spec(a)));
}

TEST(Gradcheck, AttentionGated) {
  attnlab::config::Attention a = default_attention(Kind::GATED);
  a.mutable_gated()->set_granularity(attnlab::config::Gated::ELEMENTWISE);
  EXPECT_TRUE(gradcheck_variant(small_spec(a)));
  a.mutable_gated()->set_granularity(attnlab::config::Gated::HEADWISE);
  EXPECT_TRUE(gradcheck_variant(small_spec(a, 4, 2, true)));
}

TEST(Gradcheck, AttentionAffineScaled) {
  attnlab::config::Attention a = default_attention(Kind::AFFINE_SCALED);
  a.mutable_affine()->set_clip(attnlab::config::AffineScaled::LINEAR);
  EXPECT_TRUE(gradcheck_variant(small_spec(a)));
  EXPECT_TRUE(gradcheck_variant(small_spec(a, 4, 2, true)));  // GQA: beta spreads group values
  a.mutable_affine()->set_clip(attnlab::config::AffineScaled::SIGMOID);
  EXPECT_TRUE(gradcheck_variant(small_spec(a)));
  a.mutable_affine()->set_gate(true);  // composed with the headwise gate
  a.mutable_gated()->set_granularity(attnlab::config::Gated::HEADWISE);
  EXPECT_TRUE(gradcheck_variant(small_spec(a, 2, 1)));
}

}  // namespace
}  // namespace attn
