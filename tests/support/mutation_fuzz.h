// The built-in mutation fuzzer (the reliability issue's driver where libFuzzer is not used):
// seeded, so every run of a target sees the same inputs and a failure names the input that
// caused it. Each target feeds mutants of valid encodings to a reader and requires that every
// one is either accepted or refused with an attn::Error of an allowed kind; any other exception
// fails, and a crash, leak or undefined behaviour fails the ASan+UBSan build.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "framework/core/error.h"

namespace attn::test {

// 1 to 4 edits of `s`: a bit flip, a byte overwrite, an insertion of up to 8 equal bytes, an
// erasure of up to 8 bytes, a truncation, or a splice with a suffix of `other`.
std::string mutate(std::string s, const std::string& other, std::mt19937_64& rng);

// Inputs per target: ATTNLAB_FUZZ_INPUTS when set (the full form runs >= 100000), else
// `default_inputs` (the reduced form CI runs).
int64_t fuzz_inputs(int64_t default_inputs);

struct FuzzStats {
  int64_t accepted = 0;
  int64_t rejected = 0;
  std::string first_rejection;  // an example message, for the test's record
};

// Feeds `inputs` mutants of `seeds` (chosen and mutated by a generator seeded with `seed`) to
// `consume`, which throws attn::Error to refuse. Reports a GoogleTest failure naming the mutant
// (as a C++ string literal, ready to paste into a regression test) for any exception that is
// not an attn::Error of a kind in `allowed`, and stops at the first.
FuzzStats fuzz(const std::vector<std::string>& seeds, int64_t inputs, uint64_t seed,
               const std::function<void(const std::string&)>& consume,
               const std::set<ErrorKind>& allowed = {ErrorKind::kInput, ErrorKind::kConfig});

// `bytes` as a C++ string literal ("\x00..." escapes where needed).
std::string cpp_literal(const std::string& bytes);

}  // namespace attn::test
