// CUDA f32 <-> bf16 casts against framework/core/bf16.h, bit for bit (the conversion is exact
// integer arithmetic on the bit patterns, so there is no tolerance): every bf16 pattern, ties
// rounding to even, NaN, infinities, overflow, subnormals and a random vector of odd length.
#include <cmath>
#include <cstring>
#include <vector>

#include "framework/core/bf16.h"
#include "framework/kernels/cuda/cast.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint32_t to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

std::vector<uint16_t> to_bf16_on_gpu(const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  Tensor src = Tensor::from_vector<float>({n}, x).to(Device::cuda());
  Tensor dst = Tensor::empty({n}, DType::kBF16, Device::cuda());
  cuda::cast_f32_to_bf16(dst.data<uint16_t>(), src.data<float>(), n);
  Tensor host = dst.to(Device::cpu());
  const uint16_t* p = host.data<uint16_t>();
  return std::vector<uint16_t>(p, p + n);
}

std::vector<float> to_f32_on_gpu(const std::vector<uint16_t>& h) {
  const auto n = static_cast<int64_t>(h.size());
  Tensor src = Tensor::empty({n}, DType::kBF16, Device::cpu());
  std::memcpy(src.data<uint16_t>(), h.data(), h.size() * sizeof(uint16_t));
  Tensor gsrc = src.to(Device::cuda());
  Tensor dst = Tensor::empty({n}, DType::kF32, Device::cuda());
  cuda::cast_bf16_to_f32(dst.data<float>(), gsrc.data<uint16_t>(), n);
  return dst.to_vector<float>();
}

TEST_F(Cuda, CastRoundsToNearestEven) {
  struct Case {
    uint32_t f32;
    uint16_t bf16;
  };
  const Case cases[] = {
      {0x3f800000u, 0x3f80},  // 1.0: exact
      {0x3f808000u, 0x3f80},  // tie, even upper half: stays
      {0x3f818000u, 0x3f82},  // tie, odd upper half: rounds up to even
      {0xbf808000u, 0xbf80},  // negative ties behave the same on the magnitude
      {0xbf818000u, 0xbf82}, {0x3f808001u, 0x3f81},  // just above a tie: up
      {0x3f807fffu, 0x3f80},                         // just below a tie: down
      {0x7f7fffffu, 0x7f80},                         // largest float overflows to infinity
      {0x7f800000u, 0x7f80},                         // +inf
      {0xff800000u, 0xff80},                         // -inf
      {0x80000000u, 0x8000},                         // -0
      {0x00008000u, 0x0000},                         // subnormal tie to even (zero)
      {0x00018000u, 0x0002},                         // subnormal tie, odd: up
      {0x7fc00000u, 0x7fc0},                         // quiet NaN
      {0x7f800001u, 0x7fc0},  // signalling NaN with a low payload: still NaN (quiet bit set)
      {0xff810000u, 0xffc1},  // negative NaN keeps its sign and upper payload
  };
  std::vector<float> x;
  for (const Case& c : cases) x.push_back(from_bits(c.f32));
  const std::vector<uint16_t> got = to_bf16_on_gpu(x);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(got[i], cases[i].bf16) << std::hex << "f32 bits 0x" << cases[i].f32;
    EXPECT_EQ(got[i], float_to_bf16(x[i])) << std::hex << "f32 bits 0x" << cases[i].f32;
  }
}

TEST_F(Cuda, CastMatchesHostOnRandomValues) {
  const int64_t n = 100003;  // not a multiple of the block size
  const std::vector<float> x =
      test::random_normal({n}, 31, DType::kF32, 3.0, false).to_vector<float>();
  const std::vector<uint16_t> got = to_bf16_on_gpu(x);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], float_to_bf16(x[i])) << "element " << i;
  const std::vector<float> back = to_f32_on_gpu(got);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(to_bits(back[i]), to_bits(bf16_to_float(got[i]))) << "element " << i;
    // Round to nearest: within half a bf16 ulp (at most 2^-8 relative) of the original.
    ASSERT_LE(std::abs(back[i] - x[i]), std::ldexp(std::abs(x[i]), -8)) << "element " << i;
  }
}

TEST_F(Cuda, CastRoundTripsEveryBf16Pattern) {
  std::vector<uint16_t> all(1 << 16);
  for (uint32_t h = 0; h < all.size(); ++h) all[h] = static_cast<uint16_t>(h);
  const std::vector<float> wide = to_f32_on_gpu(all);
  for (uint32_t h = 0; h < all.size(); ++h)
    ASSERT_EQ(to_bits(wide[h]), h << 16) << "bf16 widening is exact, pattern " << h;
  const std::vector<uint16_t> back = to_bf16_on_gpu(wide);
  for (uint32_t h = 0; h < all.size(); ++h) {
    if (std::isnan(wide[h]))
      ASSERT_TRUE(std::isnan(bf16_to_float(back[h]))) << "NaN stays NaN, pattern " << h;
    else
      ASSERT_EQ(back[h], h) << "every finite and infinite bf16 value is representable";
  }
}

TEST_F(Cuda, CastOfNothingIsANoOp) {
  cuda::cast_f32_to_bf16(nullptr, nullptr, 0);
  cuda::cast_bf16_to_f32(nullptr, nullptr, 0);
}

}  // namespace
}  // namespace attn
