// The caching allocator reuses freed blocks (no system allocation in steady state).
#include <gtest/gtest.h>

#include "framework/core/allocator.h"
#include "framework/core/tensor.h"

namespace attn {
namespace {

TEST(Allocator, SizeClassesBoundWaste) {
  EXPECT_EQ(allocation_size_class(1), 64u);
  EXPECT_EQ(allocation_size_class(65), 128u);
  for (size_t bytes : {4097ul, 100000ul, 123456789ul}) {
    size_t cls = allocation_size_class(bytes);
    EXPECT_GE(cls, bytes);
    EXPECT_LE(cls, bytes + bytes / 8 + 64) << bytes;
    EXPECT_EQ(allocation_size_class(cls), cls) << "classes are fixed points";
  }
}

TEST(Allocator, SteadyStateStepsDoNotReachTheSystem) {
  auto step = [] {
    Tensor a = Tensor::empty({1 << 20});  // 4 MiB: above glibc's mmap threshold
    Tensor b = Tensor::empty({3, 1000});
    a.fill_(1.0);
    b.fill_(2.0);
  };
  step();
  size_t before = allocator_stats(Device::cpu()).system_allocs;
  for (int i = 0; i < 10; ++i) step();
  EXPECT_EQ(allocator_stats(Device::cpu()).system_allocs, before);
}

TEST(Allocator, StatsTrackUseAndRelease) {
  release_cached(Device::cpu());
  size_t in_use = allocator_stats(Device::cpu()).bytes_in_use;
  {
    Tensor a = Tensor::empty({1000});
    EXPECT_GE(allocator_stats(Device::cpu()).bytes_in_use, in_use + 4000);
  }
  EXPECT_EQ(allocator_stats(Device::cpu()).bytes_in_use, in_use);
  EXPECT_GT(allocator_stats(Device::cpu()).bytes_cached, 0u);
  release_cached(Device::cpu());
  EXPECT_EQ(allocator_stats(Device::cpu()).bytes_cached, 0u);
}

TEST(Allocator, MemoryIs64ByteAligned) {
  for (int n : {1, 3, 17, 1000}) {
    Tensor t = Tensor::empty({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
  }
}

}  // namespace
}  // namespace attn
