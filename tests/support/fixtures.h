// PyTorch golden fixtures (tests/reference/fixtures, written by make_fixtures.py) and the
// element-wise closeness check the golden tests compare with.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "framework/io/safetensors.h"

namespace attn::test {

// $ATTNLAB_SOURCE_DIR/tests/reference/fixtures; throws kConfig when the variable is unset (CTest
// sets it for every test; run binaries by hand with it exported).
std::string fixtures_dir();

// fixtures/<name>, with ".safetensors" appended when `name` has no extension: "ops/matmul" or
// "adamw.safetensors". A missing file throws kIo naming the path and how to regenerate it.
SafetensorsFile load_fixture(const std::string& name);

// Every element satisfies |got - want| <= atol + rtol * |want| (NaN only matches NaN); shapes
// must agree. On failure names the worst element, its values and how many elements fail.
::testing::AssertionResult all_close(const Tensor& got, const Tensor& want, double atol,
                                     double rtol);

// The largest |x| of a tensor (0 for an empty one), for tolerances scaled to a tensor's size.
double max_abs(const Tensor& t);

}  // namespace attn::test
