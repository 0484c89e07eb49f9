// AdamW, SGD and gradient clipping on a CUDA ParamStore against the same steps on the CPU.
// Tolerance: both sides round every operation of the update the same way (no FMA contraction on
// the GPU side), so parameters agree to a few ulp after several steps; 2e-6 relative.
#include <cmath>
#include <memory>

#include "framework/core/param_store.h"
#include "optim/adamw.h"
#include "optim/grad_clip.h"
#include "optim/sgd.h"
#include "tests/framework/cuda/cuda_test.h"
#include "tests/support/random.h"

namespace attn {
namespace {

using test::Cuda;

struct Model {
  ParamStore store;
  explicit Model(Device device) : store(DType::kF32, device) {
    store.declare("w", {37, 29}, ParamInit::normal(0.5));
    store.declare("b", {29}, ParamInit::normal(0.5), /*weight_decay=*/false);
    store.declare("e", {1000}, ParamInit::normal(0.5));
    store.finalize();
    store.initialize(11);
  }
  void set_grads(uint64_t stream) {
    const Tensor g = test::random_normal({store.padded_size()}, stream, DType::kF32, 1.0, false);
    store.flat_grads().copy_from(g.to(store.device()));
  }
};

void expect_close(const Tensor& want, const Tensor& got) {
  const std::vector<float> w = want.to_vector<float>(), g = got.to_vector<float>();
  ASSERT_EQ(w.size(), g.size());
  for (size_t i = 0; i < w.size(); ++i)
    ASSERT_NEAR(g[i], w[i], 1e-7 + 2e-6 * std::abs(w[i])) << "element " << i;
}

template <typename MakeOptimizer>
void expect_same_steps(MakeOptimizer make) {
  Model cpu(Device::cpu()), gpu(Device::cuda());
  expect_close(cpu.store.flat_params(), gpu.store.flat_params());  // same initialisation
  std::unique_ptr<Optimizer> oc = make(cpu.store), og = make(gpu.store);
  for (int step = 0; step < 4; ++step) {
    cpu.set_grads(100 + step);
    gpu.set_grads(100 + step);
    oc->step();
    og->step();
  }
  expect_close(cpu.store.flat_params(), gpu.store.flat_params());
  // The state comes back to the host in the checkpoint layout.
  const NamedTensors sc = oc->state(), sg = og->state();
  ASSERT_EQ(sc.size(), sg.size());
  for (size_t i = 0; i < sc.size(); ++i) {
    SCOPED_TRACE(sc[i].first);
    EXPECT_EQ(sc[i].first, sg[i].first);
    if (sc[i].second.dtype() == DType::kF32) expect_close(sc[i].second, sg[i].second);
  }
}

TEST_F(Cuda, AdamWMatchesCpu) {
  expect_same_steps([](ParamStore& s) {
    return std::make_unique<AdamW>(
        s, AdamWOptions{.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1});
  });
}

TEST_F(Cuda, SgdWithMomentumMatchesCpu) {
  expect_same_steps([](ParamStore& s) {
    return std::make_unique<Sgd>(s, SgdOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01});
  });
}

TEST_F(Cuda, AdamWStateLoadsAcrossDevices) {
  Model cpu(Device::cpu()), gpu(Device::cuda());
  AdamW oc(cpu.store, {}), og(gpu.store, {});
  cpu.set_grads(5);
  oc.step();
  og.load_state(oc.state());  // a CPU checkpoint resumed on the GPU
  gpu.store.flat_params().copy_from(cpu.store.flat_params());
  cpu.set_grads(6);
  gpu.set_grads(6);
  oc.step();
  og.step();
  EXPECT_EQ(og.steps_taken(), 2);
  expect_close(cpu.store.flat_params(), gpu.store.flat_params());
}

TEST_F(Cuda, GradNormAndClipMatchCpuAndRepeatToTheBit) {
  Model cpu(Device::cpu()), gpu(Device::cuda());
  cpu.set_grads(21);
  gpu.set_grads(21);
  const double want = grad_norm(cpu.store);
  const double got = grad_norm(gpu.store);
  EXPECT_NEAR(got, want, 1e-12 * want);  // both accumulate in double
  EXPECT_EQ(grad_norm(gpu.store), got);  // a fixed partition: the same bits again
  EXPECT_EQ(clip_grad_norm(cpu.store, 1.0), want);
  EXPECT_EQ(clip_grad_norm(gpu.store, 1.0), got);
  expect_close(cpu.store.flat_grads(), gpu.store.flat_grads());
  EXPECT_NEAR(grad_norm(gpu.store), 1.0, 1e-5);
}

}  // namespace
}  // namespace attn
