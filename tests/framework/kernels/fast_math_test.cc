// fast_exp / fast_erf (float) against libm over their whole useful range, and edge cases.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "framework/kernels/cpu/fast_math.h"

namespace attn {
namespace {

TEST(FastExp, WithinThreeUlpOfLibm) {
  float worst = 0;
  for (float x = -87.0f; x < 88.0f; x += 0.000731f) {
    const float want = std::exp(x), got = cpu::fast_exp(x);
    const float ulp = std::nextafter(want, std::numeric_limits<float>::infinity()) - want;
    worst = std::max(worst, std::fabs(got - want) / ulp);
  }
  EXPECT_LE(worst, 3.0f);
}

TEST(FastExp, EdgeCases) {
  EXPECT_EQ(cpu::fast_exp(0.0f), 1.0f);
  EXPECT_EQ(cpu::fast_exp(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(cpu::fast_exp(-1000.0f), 0.0f);
  EXPECT_TRUE(std::isfinite(cpu::fast_exp(88.0f)));
  EXPECT_EQ(cpu::fast_exp(1.5), std::exp(1.5)) << "double is exact libm";
}

TEST(FastErf, WithinFiveE7Absolute) {
  double worst = 0;
  for (float x = -8.0f; x < 8.0f; x += 0.000377f)
    worst = std::max(worst, std::fabs(double(cpu::fast_erf(x)) - std::erf(double(x))));
  EXPECT_LE(worst, 5e-7);
  EXPECT_EQ(cpu::fast_erf(0.0f), 0.0f);
  EXPECT_EQ(cpu::fast_erf(std::numeric_limits<float>::infinity()), 1.0f);
  EXPECT_EQ(cpu::fast_erf(-std::numeric_limits<float>::infinity()), -1.0f);
  EXPECT_EQ(cpu::fast_erf(0.3), std::erf(0.3)) << "double is exact libm";
}

}  // namespace
}  // namespace attn
