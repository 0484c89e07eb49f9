// Runs one op on a PyTorch fixture's inputs in f64 or f32 and compares the output and the
// gradients of sum(out * gout) with the fixture's `out` and `grad_<input>` tensors.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "framework/core/tensor.h"

namespace attn::test {

using FixtureInputs = std::map<std::string, Tensor>;
using FixtureMeta = std::map<std::string, std::string>;
using GoldenOp = std::function<Tensor(const FixtureInputs&, const FixtureMeta&)>;

struct GoldenTolerance {
  double atol = 0;      // absolute
  double atol_rel = 0;  // added to atol, times the largest |element| of the reference tensor
  double rtol = 0;      // times |reference element|
};

// Every float input is converted to `dtype` (integer inputs are passed as stored); the names in
// `grads` require gradients and each must match the fixture's grad_<name>. `extra_out_atol` and
// `extra_grad_atol` widen the absolute tolerance for ops with a documented approximation.
void check_golden_op(const std::string& fixture, const std::vector<std::string>& grads,
                     const GoldenOp& op, DType dtype, const GoldenTolerance& tol,
                     double extra_out_atol = 0, double extra_grad_atol = 0);

}  // namespace attn::test
