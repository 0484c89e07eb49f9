// Float64 finite-difference gradient check for any differentiable function of tensors:
// compares backward() against central differences of a fixed random projection of the output.
#pragma once

#include <functional>
#include <vector>

#include <gtest/gtest.h>

#include "framework/core/tensor.h"

namespace attn::test {

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-8;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-6;
  uint64_t seed = 1234;  // of the output projection
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Checks d/dx sum(f(x) * R) for every input that requires grad (f64 inputs only). Inputs that do
// not require grad (ids, masks) are passed through unchanged.
::testing::AssertionResult gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                                     const GradcheckOptions& options = {});

// Runs `run` with 1 and with 2 OpenMP threads and expects every returned tensor bit-identical.
void expect_same_bits_for_1_and_2_threads(const std::function<std::vector<Tensor>()>& run);

}  // namespace attn::test
