// CUDA embedding against the CPU kernels and op on the same inputs: forward and accumulating
// backward, i32 and i64 ids, heavily repeated ids. Tolerance: none. The gather copies values,
// and the backward adds each id's rows in token order starting from the old gradient, exactly
// the CPU kernel's sequence of f32 additions, so results must match to the bit.
#include <algorithm>

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/embedding.h"
#include "framework/kernels/cuda/embedding.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/embedding.h"
#include "framework/ops/reduce.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/framework/cuda/cuda_test_util.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;
using test::host;

// The backward plan built independently of the op (a counting sort by id): order, distinct ids,
// segment starts.
template <typename I>
std::vector<int64_t> plan_of(const std::vector<I>& ids, int64_t vocab, int64_t* segments) {
  std::vector<std::vector<int64_t>> by_id(vocab);
  for (size_t t = 0; t < ids.size(); ++t) by_id[ids[t]].push_back(static_cast<int64_t>(t));
  std::vector<int64_t> order, seg_ids, starts;
  for (int64_t v = 0; v < vocab; ++v) {
    if (by_id[v].empty()) continue;
    seg_ids.push_back(v);
    starts.push_back(static_cast<int64_t>(order.size()));
    order.insert(order.end(), by_id[v].begin(), by_id[v].end());
  }
  starts.push_back(static_cast<int64_t>(order.size()));
  *segments = static_cast<int64_t>(seg_ids.size());
  order.insert(order.end(), seg_ids.begin(), seg_ids.end());
  order.insert(order.end(), starts.begin(), starts.end());
  return order;
}

template <typename I>
void check_kernels(int64_t vocab, int64_t dim, int64_t n, uint64_t stream) {
  SCOPED_TRACE(testing::Message() << "vocab " << vocab << " dim " << dim << " n " << n);
  const DType idt = sizeof(I) == 4 ? DType::kI32 : DType::kI64;
  const Tensor ids = test::random_ids({n}, vocab, stream, idt);
  const std::vector<I> id_values = ids.to_vector<I>();
  const std::vector<float> table =
      test::random_normal({vocab, dim}, stream + 1, DType::kF32, 1.0, false).to_vector<float>();
  const std::vector<float> dout =
      test::random_normal({n, dim}, stream + 2, DType::kF32, 1.0, false).to_vector<float>();
  std::vector<float> out(n * dim), dtable(vocab * dim, 0.25f);
  cpu::embedding_forward<float, I>(out.data(), id_values.data(), table.data(), n, dim);
  cpu::embedding_backward<float, I>(dtable.data(), dout.data(), id_values.data(), n, dim);

  const Tensor g_ids = ids.to(Device::cuda());
  const Tensor g_table = Tensor::from_vector<float>({vocab, dim}, table, Device::cuda());
  Tensor g_out = Tensor::empty({n, dim}, DType::kF32, Device::cuda());
  cuda::embedding_forward(g_out.data<float>(), g_ids.data<I>(), g_table.data<float>(), n, dim);
  EXPECT_EQ(host(g_out), out) << "forward";

  int64_t segments = 0;
  const std::vector<int64_t> plan = plan_of(id_values, vocab, &segments);
  const Tensor g_plan =
      Tensor::from_vector<int64_t>({static_cast<int64_t>(plan.size())}, plan, Device::cuda());
  const Tensor g_dout = Tensor::from_vector<float>({n, dim}, dout, Device::cuda());
  Tensor g_dtable = Tensor::full({vocab, dim}, 0.25, DType::kF32, Device::cuda());
  const int64_t* p = g_plan.data<int64_t>();
  cuda::embedding_backward(g_dtable.data<float>(), g_dout.data<float>(), p, p + n, p + n + segments,
                           segments, dim);
  EXPECT_EQ(host(g_dtable), dtable) << "backward (accumulated)";
}

TEST_F(Cuda, EmbeddingKernelsMatchCpu) {
  check_kernels<int32_t>(37, 75, 1001, 10);  // many repeats per id, odd sizes
  check_kernels<int64_t>(37, 75, 1001, 20);
  check_kernels<int32_t>(1, 3, 3000, 30);   // one id: a single long segment
  check_kernels<int64_t>(500, 257, 1, 40);  // one token
  check_kernels<int32_t>(5, 1, 17, 50);     // one column
}

struct OpResult {
  std::vector<float> y, dtable;
};

// The op on `device`: table grad seeded at 0.5 (accumulation), loss sum(y * w).
OpResult run_op(Device device, const Tensor& table_host, const Tensor& ids, uint64_t w_stream) {
  Tensor table = device.is_cpu() ? table_host.clone() : table_host.to(device);
  table.set_requires_grad();
  table.set_grad(Tensor::full(table.shape(), 0.5, DType::kF32, device));
  Tensor y = embedding(table, ids);
  EXPECT_EQ(y.device(), device);
  Tensor w = test::random_normal(y.shape(), w_stream, DType::kF32, 1.0, false).to(device);
  backward(sum(mul(y, w)));
  return {host(y), host(table.grad())};
}

TEST_F(Cuda, EmbeddingOpMatchesCpu) {
  const Tensor table = test::random_normal({29, 67}, 60, DType::kF32, 1.0, false);
  for (DType idt : {DType::kI32, DType::kI64}) {
    const Tensor ids = test::random_ids({3, 41}, 29, 61, idt);
    const OpResult want = run_op(Device::cpu(), table, ids, 62);
    // Ids on the host and ids on the device give the same result.
    for (const Tensor& where : {ids, ids.to(Device::cuda())}) {
      const OpResult got = run_op(Device::cuda(), table, where, 62);
      EXPECT_EQ(got.y, want.y);
      EXPECT_EQ(got.dtable, want.dtable);
    }
  }
}

TEST_F(Cuda, EmbeddingOpChecksIdsOnTheDevice) {
  const Tensor table = Tensor::zeros({4, 2}, DType::kF32, Device::cuda());
  const Tensor bad = Tensor::from_vector<int32_t>({3}, {1, 4, 0}, Device::cuda());
  EXPECT_THROW(embedding(table, bad), Error);
  const Tensor cpu_table = Tensor::zeros({4, 2});
  EXPECT_THROW(embedding(cpu_table, Tensor::from_vector<int32_t>({1}, {1}, Device::cuda())),
               Error);  // ids on a GPU for a table on the CPU
}

}  // namespace
}  // namespace attn
