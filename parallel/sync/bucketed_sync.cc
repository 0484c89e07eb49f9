// Plain data parallel as a GradientSync: DataParallel's buckets all-reduce while backward runs;
// only the last part's backward launches them (the others accumulate locally).
#include <memory>

#include "optim/grad_clip.h"
#include "parallel/data_parallel.h"
#include "parallel/gradient_sync.h"

namespace attn {

namespace {

class BucketedSync final : public GradientSync {
 public:
  BucketedSync(ParamStore& store, Communicator& comm, Communicator& buffers, double bucket_mb)
      : store_(store), comm_(comm), buffers_(buffers) {
    DataParallelOptions o;
    o.bucket_mb = bucket_mb;
    dp_ = std::make_unique<DataParallel>(store, buffers, o);
  }

  void before_backward(int k, int parts) override { dp_->set_sync(k + 1 == parts); }
  // A rank whose last part had no targets skipped its backward: finish() launches what is left.
  void finish() override { dp_->finish(); }
  double sum_losses(const std::vector<double>& local) override {
    double sum = 0;
    for (double l : local) sum += l;
    return sum_over_ranks(comm_, sum);
  }
  double clip_grad_norm(double max_norm) override { return attn::clip_grad_norm(store_, max_norm); }
  void after_step() override { average_buffers(store_, buffers_); }
  std::optional<double> wait_seconds() const override { return dp_->wait_seconds(); }

 private:
  ParamStore& store_;
  Communicator& comm_;
  Communicator& buffers_;
  std::unique_ptr<DataParallel> dp_;
};

}  // namespace

std::unique_ptr<GradientSync> make_bucketed_sync(ParamStore& store, Communicator& comm,
                                                 Communicator& buffers, double bucket_mb) {
  return std::make_unique<BucketedSync>(store, comm, buffers, bucket_mb);
}

}  // namespace attn
