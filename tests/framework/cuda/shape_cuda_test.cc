// CUDA block copies and transposes against the CPU kernels, and the shape ops (reshape, slice,
// concat, split, transpose_last2) forward and accumulating backward against the CPU ops.
// Tolerance: none. Data movement copies values, and the backward adds one value to each
// gradient element (starting from a nonzero value), the same single f32 addition on both sides.
#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/copy.h"
#include "framework/kernels/cuda/copy.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "framework/ops/shape.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/framework/cuda/cuda_test_util.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;
using test::host;
using test::OpResult;
using test::randn;
using test::run_op;

TEST_F(Cuda, CopyBlocksMatchesCpu) {
  struct Case {
    int64_t outer, len, dst_stride, src_stride;
  };
  const Case cases[] = {{7, 13, 29, 17}, {1, 1000, 1000, 1000}, {300, 5, 5, 5}, {4, 33, 40, 33},
                        {1, 1, 3, 2},    {0, 5, 5, 5},          {3, 0, 4, 4}};
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.outer << " blocks of " << c.len);
    const int64_t dst_n = std::max<int64_t>(1, c.outer * c.dst_stride);
    const int64_t src_n = std::max<int64_t>(1, c.outer * c.src_stride);
    const std::vector<float> src = randn(src_n, 90), dst0 = randn(dst_n, 91);
    const Tensor g_src = Tensor::from_vector<float>({src_n}, src, Device::cuda());
    for (const bool accumulate : {false, true}) {
      std::vector<float> want = dst0;
      cpu::copy_blocks<float>(want.data(), c.dst_stride, src.data(), c.src_stride, c.outer, c.len,
                              accumulate);
      Tensor g_dst = Tensor::from_vector<float>({dst_n}, dst0, Device::cuda());
      cuda::copy_blocks(g_dst.data<float>(), c.dst_stride, g_src.data<float>(), c.src_stride,
                        c.outer, c.len, accumulate);
      EXPECT_EQ(host(g_dst), want) << (accumulate ? "accumulate" : "copy");
    }
    // Raw copies move other dtypes bit for bit (i64 here).
    std::vector<int64_t> isrc(src_n), idst(dst_n, -1);
    for (int64_t i = 0; i < src_n; ++i) isrc[i] = i * 1000003;
    std::vector<int64_t> iwant = idst;
    cpu::copy_blocks<int64_t>(iwant.data(), c.dst_stride, isrc.data(), c.src_stride, c.outer, c.len,
                              false);
    const Tensor g_isrc = Tensor::from_vector<int64_t>({src_n}, isrc, Device::cuda());
    Tensor g_idst = Tensor::from_vector<int64_t>({dst_n}, idst, Device::cuda());
    cuda::copy_blocks_raw(g_idst.raw(), c.dst_stride, g_isrc.raw(), c.src_stride, c.outer, c.len,
                          8);
    EXPECT_EQ(g_idst.to(Device::cpu()).to_vector<int64_t>(), iwant) << "raw i64";
  }
}

TEST_F(Cuda, TransposeLast2MatchesCpu) {
  struct Case {
    int64_t batch, rows, cols;
  };
  const Case cases[] = {{3, 33, 65}, {1, 1, 1}, {2, 100, 1}, {1, 1, 77}, {5, 32, 32}, {1, 513, 31}};
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.batch << "x" << c.rows << "x" << c.cols);
    const int64_t n = c.batch * c.rows * c.cols;
    const std::vector<float> x = randn(n, 92), out0 = randn(n, 93);
    const Tensor g_x = Tensor::from_vector<float>({n}, x, Device::cuda());
    for (const bool accumulate : {false, true}) {
      std::vector<float> want = out0;
      cpu::transpose_last2<float>(want.data(), x.data(), c.batch, c.rows, c.cols, accumulate);
      Tensor g_out = Tensor::from_vector<float>({n}, out0, Device::cuda());
      cuda::transpose_last2(g_out.data<float>(), g_x.data<float>(), c.batch, c.rows, c.cols,
                            accumulate);
      EXPECT_EQ(host(g_out), want) << (accumulate ? "accumulate" : "copy");
    }
    std::vector<int32_t> ix(n), iwant(n);
    for (int64_t i = 0; i < n; ++i) ix[i] = static_cast<int32_t>(i * 7 + 1);
    cpu::transpose_last2<int32_t>(iwant.data(), ix.data(), c.batch, c.rows, c.cols, false);
    const Tensor g_ix = Tensor::from_vector<int32_t>({n}, ix, Device::cuda());
    Tensor g_iout = Tensor::empty({n}, DType::kI32, Device::cuda());
    cuda::transpose_last2_raw(g_iout.raw(), g_ix.raw(), c.batch, c.rows, c.cols, 4);
    EXPECT_EQ(g_iout.to(Device::cpu()).to_vector<int32_t>(), iwant) << "raw i32";
  }
}

TEST_F(Cuda, ShapeOpsMatchCpu) {
  const Tensor a = test::random_normal({4, 9, 5}, 95, DType::kF32, 1.0, false);
  const Tensor b = test::random_normal({4, 2, 5}, 96, DType::kF32, 1.0, false);
  const Tensor c = test::random_normal({4, 1, 5}, 97, DType::kF32, 1.0, false);
  using Inputs = std::vector<Tensor>;
  const std::vector<std::pair<const char*, std::function<Tensor(const Inputs&)>>> ops = {
      {"reshape",
       [](const Inputs& in) {
         return reshape(in[0], {6, -1});
       }},
      {"slice axis 1", [](const Inputs& in) { return slice(in[0], 1, 2, 7); }},
      {"slice axis 2", [](const Inputs& in) { return slice(in[0], -1, 1, 4); }},
      {"slice axis 0", [](const Inputs& in) { return slice(in[0], 0, 1, 3); }},
      {"concat axis 1",
       [](const Inputs& in) {
         return concat({in[0], in[1], in[2]}, 1);
       }},
      {"split axis 1",
       [](const Inputs& in) {
         std::vector<Tensor> parts = split(in[0], 1, {3, 0, 6});
         return concat({parts[2], parts[1], parts[0]}, 1);  // every part reaches the loss
       }},
      {"transpose_last2", [](const Inputs& in) { return transpose_last2(in[0]); }},
  };
  for (const auto& [name, f] : ops) {
    SCOPED_TRACE(name);
    const OpResult want = run_op(Device::cpu(), {a, b, c}, f, 94);
    const OpResult got = run_op(Device::cuda(), {a, b, c}, f, 94);
    EXPECT_EQ(got.y, want.y);
    ASSERT_EQ(got.grads.size(), want.grads.size());
    for (size_t i = 0; i < want.grads.size(); ++i) EXPECT_EQ(got.grads[i], want.grads[i]) << i;
  }
}

TEST_F(Cuda, ShapeOpsMoveIndexTensorsOnTheDevice) {
  const Tensor ids = test::random_ids({3, 7}, 1000, 98, DType::kI64);
  const Tensor g_ids = ids.to(Device::cuda());
  EXPECT_EQ(transpose_last2(g_ids).to(Device::cpu()).to_vector<int64_t>(),
            transpose_last2(ids).to_vector<int64_t>());
  EXPECT_EQ(concat({g_ids, slice(g_ids, 1, 2, 5)}, 1).to(Device::cpu()).to_vector<int64_t>(),
            concat({ids, slice(ids, 1, 2, 5)}, 1).to_vector<int64_t>());
  EXPECT_THROW(concat({ids, g_ids}, 0), Error);  // mixed devices
}

}  // namespace
}  // namespace attn
