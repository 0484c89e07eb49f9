// The fixture of the CUDA tests: skips (saying why) when the build has no CUDA or the machine
// has no GPU, so CPU-only CI reports them as skipped, never as passed.
#pragma once

#include <gtest/gtest.h>

#include "framework/kernels/cuda/runtime.h"

namespace attn::test {

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda::built_with_cuda()) GTEST_SKIP() << "built without CUDA (nvcc not found)";
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  }
};

}  // namespace attn::test
