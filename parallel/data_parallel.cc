#include "parallel/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <limits>

namespace attn {

namespace {
constexpr size_t kNeverUsed = std::numeric_limits<size_t>::max();
}

DataParallel::DataParallel(ParamStore& store, Communicator& comm, DataParallelOptions options)
    : store_(store), comm_(comm), options_(options) {
  ATTN_CHECK(store.finalized(), "DataParallel needs a finalized ParamStore");
  const std::vector<ParamInfo>& params = store.params();
  const int64_t elem = static_cast<int64_t>(dtype_size(store.dtype()));
  const int64_t target = std::max<int64_t>(
      1, static_cast<int64_t>(options.bucket_mb * 1024 * 1024) / std::max<int64_t>(elem, 1));
  // Backward finishes the last-declared parameters first (head, last block, ...), so buckets are
  // cut from the end of the flat buffer towards its start; the first bucket also takes the
  // padding after the last parameter so the whole buffer is covered.
  int64_t end = store.padded_size();
  Bucket cur;
  cur.end = end;
  for (size_t i = params.size(); i-- > 0;) {
    const ParamInfo& p = params[i];
    if (!p.trainable) continue;
    cur.params.push_back(i);
    cur.begin = p.offset;
    if (cur.end - cur.begin >= target) {
      buckets_.push_back(std::move(cur));
      cur = Bucket{};
      cur.end = p.offset;
    }
  }
  if (!cur.params.empty() || buckets_.empty()) {
    cur.begin = 0;
    buckets_.push_back(std::move(cur));
  } else {
    buckets_.back().begin = 0;  // alignment gaps before the first parameter
  }
  set_backward_observer(this);
}

DataParallel::~DataParallel() {
  // In-flight requests wait in their destructors; nothing here may start a new collective.
  set_backward_observer(nullptr);
}

void broadcast_parameters(ParamStore& store, Communicator& comm) {
  Tensor flat = store.flat_params();
  comm.broadcast(flat, 0);
}

void average_buffers(ParamStore& store, Communicator& comm) {
  if (comm.world_size() == 1) return;
  for (const ParamInfo& p : store.params()) {
    if (p.trainable) continue;
    Tensor t = p.tensor;
    comm.all_reduce_sum(t);
    std::vector<double> v = t.to_vector<double>();
    for (double& x : v) x /= comm.world_size();
    t.copy_from(Tensor::from_vector<double>(t.shape(), v).to(t.dtype()));
  }
}

void DataParallel::begin(size_t) {
  in_backward_ = sync_;
  if (!sync_) return;
  for (Bucket& b : buckets_) {
    b.ready_after = kNeverUsed;
    for (size_t i : b.params)
      b.ready_after = std::min(b.ready_after, first_use(store_.params()[i].tensor));
  }
  node_done(kNeverUsed);  // buckets no op used hold their final (zero) gradients already
}

// Collectives must start in the same order on every rank, so buckets launch strictly in bucket
// order: a ready bucket waits for the ones before it. All ranks record the same graph, so they
// launch the same buckets after the same node.
void DataParallel::node_done(size_t index) {
  if (!in_backward_ || !options_.overlap) return;
  for (Bucket& b : buckets_) {
    if (b.launched) continue;
    const bool ready =
        b.ready_after == kNeverUsed || (index != kNeverUsed && b.ready_after >= index);
    if (!ready) break;
    launch(b);
  }
  // Open MPI has no progress thread: a non-blocking all-reduce only moves while some MPI call
  // runs on this rank. Testing the oldest unfinished bucket after every backward node drives
  // the reductions while backward computes (one MPI_Test drives them all).
  for (Bucket& b : buckets_) {
    if (!b.launched) break;
    if (!b.request.done()) {
      b.request.test();
      break;
    }
  }
}

void DataParallel::launch(Bucket& b) {
  for (size_t i : b.params) store_.params()[i].tensor.impl().grad_frozen = true;
  Tensor slice = store_.flat_grads().slice0(b.begin, b.end);
  b.request = comm_.i_all_reduce_sum(slice);
  b.launched = true;
  reduced_mb_ += static_cast<double>((b.end - b.begin) * dtype_size(store_.dtype())) / (1 << 20);
}

void DataParallel::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  // Whatever backward did not launch (no overlap, or a rank whose last micro-batch had no
  // targets and skipped its backward) goes now, still in bucket order.
  for (Bucket& b : buckets_)
    if (!b.launched) launch(b);
  for (Bucket& b : buckets_) {
    b.request.wait();
    b.launched = false;
    for (size_t i : b.params) store_.params()[i].tensor.impl().grad_frozen = false;
  }
  wait_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  in_backward_ = false;
}

}  // namespace attn
