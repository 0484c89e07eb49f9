// Philox4x32-10: known-answer vectors, and fills independent of thread count.
#include <gtest/gtest.h>

#include "framework/core/threads.h"
#include "framework/rng/philox.h"
#include "tests/support/gradcheck.h"

namespace attn {
namespace {

// Known-answer tests from the Random123 distribution (kat_vectors), philox4x32_10:
// counter {0,0,0,0} key {0,0} and counter all-ones key all-ones.
TEST(Philox, KnownAnswers) {
  PhiloxBlock zero = philox4x32(0, 0, 0);
  EXPECT_EQ(zero, (PhiloxBlock{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  PhiloxBlock ones = philox4x32(~0ull, ~0ull, ~0ull);
  EXPECT_EQ(ones, (PhiloxBlock{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  // Digits of pi: checks the word order of (counter, stream) and key.
  PhiloxBlock pi = philox4x32(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull);
  EXPECT_EQ(pi, (PhiloxBlock{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(Philox, NormalFillHasRightMoments) {
  Tensor t = Tensor::empty({100000}, DType::kF64);
  fill_normal(t, 3, 0, 1.0, 2.0);
  std::vector<double> v = t.to_vector<double>();
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= v.size();
  for (double x : v) s += (x - m) * (x - m);
  s = std::sqrt(s / v.size());
  EXPECT_NEAR(m, 1.0, 0.03);
  EXPECT_NEAR(s, 2.0, 0.03);
}

TEST(Philox, UniformInRange) {
  Tensor t = Tensor::empty({10000});
  fill_uniform(t, 3, 1, -0.5, 0.25);
  for (float x : t.to_vector<float>()) {
    EXPECT_GE(x, -0.5f);
    EXPECT_LE(x, 0.25f);
  }
}

TEST(Philox, FillsIdenticalFor1And2Threads) {
  test::expect_same_bits_for_1_and_2_threads([] {
    Tensor a = Tensor::empty({50001}), b = Tensor::empty({50001});
    fill_normal(a, 9, 4, 0.0, 1.0);
    fill_uniform(b, 9, 5, 0.0, 1.0);
    return std::vector<Tensor>{a, b};
  });
}

TEST(Philox, StreamsDiffer) {
  EXPECT_NE(philox4x32(1, 0, 0), philox4x32(1, 1, 0));
  EXPECT_NE(rng_stream(1, 2, 3), rng_stream(1, 2, 4));
  EXPECT_NE(rng_stream(1, 2), rng_stream(2, 1));
}

}  // namespace
}  // namespace attn
