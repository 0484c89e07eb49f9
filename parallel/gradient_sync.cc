#include "parallel/gradient_sync.h"

#include "optim/grad_clip.h"

namespace attn {

const std::vector<int>& GradientSync::part_order() const {
  static const std::vector<int> none;
  return none;
}

double sum_over_ranks(Communicator& comm, double v) {
  if (comm.world_size() == 1) return v;
  Tensor t = Tensor::from_vector<double>({1}, {v});
  comm.all_reduce_sum(t);
  return t.item();
}

namespace {

class LocalSync final : public GradientSync {
 public:
  explicit LocalSync(ParamStore& store) : store_(store) {}
  void finish() override {}
  double sum_losses(const std::vector<double>& local) override {
    double sum = 0;
    for (double l : local) sum += l;
    return sum;
  }
  double clip_grad_norm(double max_norm) override { return attn::clip_grad_norm(store_, max_norm); }

 private:
  ParamStore& store_;
};

}  // namespace

std::unique_ptr<GradientSync> make_local_sync(ParamStore& store) {
  return std::make_unique<LocalSync>(store);
}

}  // namespace attn
