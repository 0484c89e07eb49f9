// A seeded mutation fuzzer of the CadPlan decoder (the built-in driver the reliability issue
// asks for where libFuzzer is not used): 100,000 mutants of valid encodings (bit flips, byte
// overwrites, insertions, deletions, truncations, splices of two plans), each decoded against
// its batch. Every outcome is a plan that passes check_plan or a named attn::Error of kind
// kInput; anything else (another exception, a crash, a sanitizer report in the ASan build)
// fails. Found crashers are to be added to plan_codec_test.cc as regression cases.
#include <gtest/gtest.h>

#include <random>

#include "framework/core/error.h"
#include "parallel/cad/plan_codec.h"
#include "tests/support/mutation_fuzz.h"

namespace attn::cad {
namespace {

TEST(CadPlanCodecFuzz, HundredThousandMutantsDecodeOrFailByName) {
  std::mt19937_64 rng(20261204);
  struct Seed {
    WorkerLayout layout;
    std::string bytes;
  };
  std::vector<Seed> seeds;
  for (int i = 0; i < 16; ++i) {
    std::vector<int64_t> lengths;
    const int docs = 1 + static_cast<int>(rng() % 12);
    for (int d = 0; d < docs; ++d) lengths.push_back(1 + static_cast<int64_t>(rng() % 2000));
    WorkerLayout layout(lengths, 1 + static_cast<int>(rng() % 6));
    const std::string bytes = encode_plan(plan_attention(layout));
    seeds.push_back({std::move(layout), bytes});
  }
  int accepted = 0, rejected = 0;
  for (int i = 0; i < 100000; ++i) {
    const Seed& s = seeds[rng() % seeds.size()];
    const std::string bytes = test::mutate(s.bytes, seeds[rng() % seeds.size()].bytes, rng);
    try {
      const Plan p = decode_plan(bytes, s.layout);
      check_plan(s.layout, p);
      ++accepted;
    } catch (const Error& e) {
      ASSERT_EQ(e.kind(), ErrorKind::kInput) << "mutant " << i << ": " << e.what();
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 90000);  // the hash catches nearly every change
  RecordProperty("accepted", accepted);
}

}  // namespace
}  // namespace attn::cad
