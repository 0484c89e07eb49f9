// The deterministic group tree as a GradientSync: every part (sample group) is backpropagated on
// its own gradient buffer and pushed into the tree; the losses go through the same tree, so N
// ranks report the bits of one.
#include <memory>

#include "optim/grad_clip.h"
#include "parallel/data_parallel.h"
#include "parallel/gradient_sync.h"
#include "parallel/group_tree_reduce.h"

namespace attn {

namespace {

class TreeSync final : public GradientSync {
 public:
  TreeSync(ParamStore& store, Communicator& comm, int groups)
      : store_(store), comm_(comm), tree_(store, comm, groups) {}

  int parts_per_batch() const override { return tree_.local_groups(); }
  const std::vector<int>& part_order() const override { return tree_.order(); }
  void begin_part(int) override { store_.zero_grad(); }  // every group's gradient on its own
  void end_part(int) override { tree_.add_group(); }
  void finish() override { tree_.finish(); }
  double sum_losses(const std::vector<double>& local) override {
    std::vector<double> by_group(local.size(), 0.0);
    for (size_t k = 0; k < local.size(); ++k) by_group[tree_.order()[k]] = local[k];
    return tree_.sum(by_group);
  }
  // Every rank holds all the summed gradients and measures them like one rank does.
  double clip_grad_norm(double max_norm) override { return attn::clip_grad_norm(store_, max_norm); }
  void after_step() override { average_buffers(store_, comm_); }

 private:
  ParamStore& store_;
  Communicator& comm_;
  GroupTreeReduce tree_;
};

}  // namespace

std::unique_ptr<GradientSync> make_tree_sync(ParamStore& store, Communicator& comm, int groups) {
  return std::make_unique<TreeSync>(store, comm, groups);
}

}  // namespace attn
