// Runs determinism checks under every OpenBLAS core type this CPU can execute. OpenBLAS picks its
// kernels and cache blocking from the CPU (or OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which some
// machines set), so a property checked only under the type the developer's machine picks proves
// nothing about a user's machine.
#pragma once

#include <string>
#include <vector>

namespace attn::test {

// OPENBLAS_CORETYPE values whose kernels this CPU can run (forcing one it cannot makes OpenBLAS
// die on an illegal instruction): Nehalem, Sandybridge, Haswell, Zen, SkylakeX, Cooperlake as
// the CPU's instruction sets allow.
std::vector<std::string> runnable_blas_core_types();

// Re-runs this test binary with --gtest_filter=`filter` in child processes: with both variables
// unset, then with each runnable core type forced, each without and with OPENBLAS_L2_SIZE=512.
// Every child must pass, and a forced type must be the one OpenBLAS reports it used (a type this
// OpenBLAS does not know is reported and skipped). `binary_loads_blas` = false for a test binary
// whose BLAS work happens in processes it starts (the CLI tests): the type is then not checked
// in the output, as only OpenBLAS itself can report it.
void expect_filter_passes_under_every_core_type(const std::string& filter,
                                                bool binary_loads_blas = true);

}  // namespace attn::test
