// ZeRO-1 as a GradientSync: after backward each rank's shard of the flat gradients receives the
// sum over ranks (the rest keeps local values, which the shard optimizer never reads); the norm
// comes from the shards.
#include <memory>

#include "parallel/data_parallel.h"
#include "parallel/gradient_sync.h"
#include "parallel/zero1.h"

namespace attn {

namespace {

class Zero1Sync final : public GradientSync {
 public:
  Zero1Sync(ParamStore& store, Communicator& comm, Zero1Optimizer& optimizer)
      : store_(store), comm_(comm), optimizer_(optimizer) {}

  void finish() override {
    if (comm_.world_size() > 1) optimizer_.reduce_scatter_gradients();
  }
  double sum_losses(const std::vector<double>& local) override {
    double sum = 0;
    for (double l : local) sum += l;
    return sum_over_ranks(comm_, sum);
  }
  double clip_grad_norm(double max_norm) override { return optimizer_.clip_grad_norm(max_norm); }
  void after_step() override { average_buffers(store_, comm_); }

 private:
  ParamStore& store_;
  Communicator& comm_;
  Zero1Optimizer& optimizer_;
};

}  // namespace

std::unique_ptr<GradientSync> make_zero1_sync(ParamStore& store, Communicator& comm,
                                              Zero1Optimizer& optimizer) {
  return std::make_unique<Zero1Sync>(store, comm, optimizer);
}

}  // namespace attn
