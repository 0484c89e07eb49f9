// Data parallelism over a Communicator: gradient buckets over the flat gradient buffer, each
// summed over ranks as soon as backward has finished its parameters (overlapping the rest).
#pragma once

#include <cstdint>
#include <vector>

#include "framework/autograd/tape.h"
#include "framework/core/param_store.h"
#include "parallel/comm/communicator.h"

namespace attn {

// Rank 0's parameters and buffers to every rank (once after initialisation or loading).
void broadcast_parameters(ParamStore& store, Communicator& comm);
// Buffers (non-trainable state such as moving averages) become their mean over ranks.
void average_buffers(ParamStore& store, Communicator& comm);

struct DataParallelOptions {
  double bucket_mb = 25;  // target bucket size; buckets end at parameter boundaries
  bool overlap = true;    // false: one all-reduce of the whole buffer after backward
};

// Usage per optimizer step: set_sync(false) before the backward passes of all but the last
// micro-batch (they accumulate locally), set_sync(true) before the last, then finish() before
// clipping and the optimizer. The caller scales each loss so the *sum* over ranks is the
// gradient of the global objective (e.g. by each micro-batch's share of the global tokens).
class DataParallel final : public BackwardObserver {
 public:
  DataParallel(ParamStore& store, Communicator& comm, DataParallelOptions options = {});
  ~DataParallel() override;
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  void set_sync(bool sync) { sync_ = sync; }
  // Completes this step's reduction: launches what backward did not, waits for everything.
  // Call exactly once per optimizer step on every rank.
  void finish();

  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  double wait_seconds() const { return wait_s_; }  // total time blocked in finish()
  double reduced_mb() const { return reduced_mb_; }

  // BackwardObserver
  void begin(size_t nodes) override;
  void node_done(size_t index) override;
  void end() override {}

 private:
  struct Bucket {
    int64_t begin = 0, end = 0;  // element range of the flat gradient buffer
    std::vector<size_t> params;  // indices into store.params()
    size_t ready_after = 0;      // launch once backward has run this node
    bool launched = false;
    Communicator::Request request;
  };
  void launch(Bucket& b);

  ParamStore& store_;
  Communicator& comm_;
  DataParallelOptions options_;
  std::vector<Bucket> buckets_;  // in the order backward finishes them (last parameters first)
  bool sync_ = true, in_backward_ = false;
  double wait_s_ = 0, reduced_mb_ = 0;
};

}  // namespace attn
