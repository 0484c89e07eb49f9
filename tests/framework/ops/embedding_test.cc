// Embedding lookup: gradient check with repeated ids (scatter-add), bad ids, determinism.
#include <gtest/gtest.h>

#include "framework/autograd/tape.h"
#include "framework/ops/embedding.h"
#include "framework/ops/reduce.h"
#include "tests/support/gradcheck.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::gradcheck;
using test::random_normal;

TEST(Gradcheck, Embedding) {
  Tensor table = random_normal({5, 3}, 1);
  Tensor ids = Tensor::from_vector<int32_t>({2, 3}, {0, 4, 4, 2, 0, 4});  // repeats accumulate
  EXPECT_TRUE(gradcheck([](auto& in) { return embedding(in[0], in[1]); }, {table, ids}));
  Tensor ids64 = Tensor::from_vector<int64_t>({1}, {3});
  EXPECT_TRUE(gradcheck([](auto& in) { return embedding(in[0], in[1]); }, {table, ids64}));
}

TEST(Embedding, RejectsOutOfRangeIdsWithPosition) {
  Tensor table = Tensor::zeros({4, 2});
  Tensor ids = Tensor::from_vector<int32_t>({3}, {1, 4, 0});
  try {
    embedding(table, ids);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("id 4 at position 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(embedding(table, Tensor::from_vector<int32_t>({1}, {-1})), Error);
  EXPECT_THROW(embedding(table, Tensor::zeros({2}, DType::kF32)), Error);
}

TEST(Determinism, Embedding) {
  test::expect_same_bits_for_1_and_2_threads([] {
    Tensor table = random_normal({50, 256}, 2, DType::kF32);
    Tensor ids = test::random_ids({4000}, 50, 3);
    Tensor y = embedding(table, ids);
    backward(sum(y));
    return std::vector<Tensor>{y, table.grad()};
  });
}

}  // namespace
}  // namespace attn
