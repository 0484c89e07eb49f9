// NcclComm: every operation is queued on the communication stream after an event that orders it
// behind the compute stream, and completes at an event recorded after it; requests poll that
// event (the watchdog) and NCCL's asynchronous error, so a lost peer ends in an error, not a hang.
#include "parallel/comm/nccl_comm.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/runtime.h"
#include "framework/kernels/cuda/stream.h"

namespace attn {

namespace {

#define NCCL_CHECK(expr)                                                                        \
  do {                                                                                          \
    const ncclResult_t nccl_rc_ = (expr);                                                       \
    if (nccl_rc_ != ncclSuccess)                                                                \
      ATTN_FAIL(kInternal, "NCCL call {} failed: {} ({})", #expr, ncclGetErrorString(nccl_rc_), \
                ncclGetLastError(nullptr));                                                     \
  } while (0)

// Same polling as MpiComm's watchdog: spin briefly, then sleep in growing steps up to 1 ms.

ncclDataType_t nccl_type(DType d) {
  switch (d) {
    case DType::kF32:
      return ncclFloat32;
    case DType::kF64:
      return ncclFloat64;
    case DType::kBF16:
      return ncclBfloat16;  // moved only: the interface rejects bf16 sums
    case DType::kI32:
      return ncclInt32;
    case DType::kI64:
      return ncclInt64;
  }
  ATTN_FAIL(kInternal, "no NCCL type for dtype {}", static_cast<int>(d));
}

// Element `offset` of a buffer, as the byte address NCCL takes.
void* at(CommBuffer b, int64_t offset) {
  return static_cast<char*>(b.data) + offset * static_cast<int64_t>(dtype_size(b.dtype));
}

bool all_equal(const std::vector<int64_t>& v) {
  return std::adjacent_find(v.begin(), v.end(), std::not_equal_to<>()) == v.end();
}

// FNV-1a: ranks compare machines and GPUs by these, gathered as i64.
int64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return static_cast<int64_t>(h);
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

// Every rank's values of `mine`, rank after rank: decisions taken from it agree on all ranks.
std::vector<int64_t> gather_all(Communicator& comm, const std::vector<int64_t>& mine) {
  const int64_t n = static_cast<int64_t>(mine.size());
  Tensor in = Tensor::from_vector<int64_t>({n}, mine);
  Tensor out = Tensor::empty({n * comm.world_size()}, DType::kI64);
  comm.all_gather(in, out);
  return out.to_vector<int64_t>();
}

class Event {
 public:
  Event() { CUDA_CHECK(cudaEventCreateWithFlags(&e_, cudaEventDisableTiming)); }
  ~Event() { cudaEventDestroy(e_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

// ncclGroupEnd also on the way out of an exception, so NCCL is not left inside a group.
class Group {
 public:
  Group() { NCCL_CHECK(ncclGroupStart()); }
  ~Group() {
    if (open_) ncclGroupEnd();
  }
  void end() {
    open_ = false;
    NCCL_CHECK(ncclGroupEnd());
  }

 private:
  bool open_ = true;
};

// Where one or more operations end on the communication stream. Sends and receives share one:
// it is recorded when their batch is issued (see NcclComm::flush_p2p).
struct Completion {
  struct P2p {
    bool send;
    CommBuffer buf;
    int peer;
  };
  Event event;
  bool recorded = false;
  std::vector<P2p> ops;  // the batch's sends and receives, until issued
};

class NcclPending;

class NcclComm final : public Communicator {
 public:
  NcclComm(Communicator& bootstrap, double timeout_s);
  ~NcclComm() override;
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int rank() const override { return bootstrap_.rank(); }
  int world_size() const override { return bootstrap_.world_size(); }
  Device buffer_device() const override { return Device::cuda(gpu_); }
  // Unblocks NCCL's kernels, then ends the job through the bootstrap communicator.
  [[noreturn]] void abort(int code, const std::string& message) override;

 protected:
  std::unique_ptr<PendingOp> start_all_reduce_sum(CommBuffer buf) override;
  std::unique_ptr<PendingOp> start_reduce_scatter_sum(CommBuffer in, CommBuffer out,
                                                      const std::vector<int64_t>& counts) override;
  std::unique_ptr<PendingOp> start_all_gather(CommBuffer in, CommBuffer out,
                                              const std::vector<int64_t>& counts) override;
  std::unique_ptr<PendingOp> start_all_to_all_v(CommBuffer send, const Chunks& sc, CommBuffer recv,
                                                const Chunks& rc) override;
  std::unique_ptr<PendingOp> start_send(CommBuffer buf, int dest, int tag) override;
  std::unique_ptr<PendingOp> start_recv(CommBuffer buf, int source, int tag) override;
  std::unique_ptr<PendingOp> start_broadcast(CommBuffer buf, int root) override;
  std::unique_ptr<PendingOp> start_barrier() override;

 private:
  friend class NcclPending;
  void begin();  // before a collective: issue pending sends and receives, order after compute
  void order_after_compute();
  std::unique_ptr<PendingOp> finish(std::string op, int64_t elements);
  std::unique_ptr<PendingOp> add_p2p(CommBuffer buf, int peer, bool send, std::string op);
  void flush_p2p();
  // Throws (after aborting the NCCL communicator) if NCCL reported an asynchronous error.
  void check_async(const std::string& op);

  Communicator& bootstrap_;
  double timeout_s_;
  int gpu_ = 0;  // this rank's GPU: buffers are on cuda:gpu_, the current device
  cudaStream_t compute_ = nullptr;
  cudaStream_t comm_stream_ = nullptr;
  std::unique_ptr<Event> ready_;     // recorded on compute, waited for by the comm stream
  Tensor barrier_buf_;               // [1] i32 zero on the GPU: a barrier is an all-reduce of it
  std::shared_ptr<Completion> p2p_;  // sends and receives not yet issued, or null
  ncclComm_t comm_ = nullptr;
  bool broken_ = false;  // NCCL failed asynchronously; the communicator was aborted
  int in_flight_ = 0;
};

// One started operation: done when its completion event has fired on the comm stream.
class NcclPending final : public PendingOp {
 public:
  NcclPending(NcclComm& comm, std::string op, int64_t elements, std::shared_ptr<Completion> done)
      : comm_(comm), op_(std::move(op)), elements_(elements), done_(std::move(done)) {
    ++comm_.in_flight_;
  }
  ~NcclPending() override { --comm_.in_flight_; }

  bool test() override {
    ATTN_CHECK(!comm_.broken_, "{}: the NCCL communicator failed earlier and was aborted", op_);
    if (!done_->recorded) comm_.flush_p2p();
    // An unrecorded event reads as complete: a batch whose issue failed must not.
    ATTN_CHECK(done_->recorded, "{}: issuing it to NCCL failed earlier", op_);
    const cudaError_t rc = cudaEventQuery(done_->event.get());
    if (rc == cudaErrorNotReady) {
      comm_.check_async(op_);
      return false;
    }
    CUDA_CHECK(rc);
    // Kernels read the result on the compute stream: they wait for the operation there.
    CUDA_CHECK(cudaStreamWaitEvent(comm_.compute_, done_->event.get(), 0));
    return true;
  }

  void wait() override {
    wait_with_watchdog(comm_.timeout_s_, [&] {
      comm_.abort(3, fmt::format("watchdog: {} ({} elements) made no progress for {:g} s; "
                                 "aborting",
                                 op_, elements_, comm_.timeout_s_));
    });
  }

 private:
  NcclComm& comm_;
  std::string op_;  // names the operation in watchdog and error messages
  int64_t elements_;
  std::shared_ptr<Completion> done_;
};

NcclComm::NcclComm(Communicator& bootstrap, double timeout_s)
    : bootstrap_(bootstrap), timeout_s_(timeout_s) {
  ATTN_CHECK(timeout_s > 0, "NcclComm: timeout_s must be positive, got {}", timeout_s);
  ATTN_CHECK(bootstrap.buffer_device().is_cpu(),
             "NcclComm: the bootstrap communicator must move host buffers");
  const int world = world_size(), me = rank();

  // Round 1: which ranks share this machine, and how many GPUs each sees. Every rank gets
  // the same table, so every rank refuses (or accepts) the same way.
  const std::string host = host_name();
  const std::vector<int64_t> seen = gather_all(bootstrap, {fnv1a(host), cuda::device_count()});
  int local_rank = 0, local_size = 0;
  for (int r = 0; r < world; ++r) {
    if (seen[2 * r + 1] == 0)
      ATTN_FAIL(kInput, "NcclComm: rank {} sees no CUDA device (NCCL needs one GPU per rank)", r);
    if (seen[2 * r] != seen[2 * me]) continue;
    local_rank += r < me;
    ++local_size;
  }
  // Open MPI's own count wins where it exists, so the trainer's choice (from_recipe.cc's
  // train_device) and this one agree; it orders a machine's ranks by world rank too.
  if (const char* s = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK")) local_rank = std::atoi(s);
  gpu_ = local_rank % static_cast<int>(seen[2 * me + 1]);
  CUDA_CHECK(cudaSetDevice(gpu_));

  // Round 2: two ranks on one GPU is an NCCL error; name it before NCCL fails obscurely.
  char bus[64] = {};
  CUDA_CHECK(cudaDeviceGetPCIBusId(bus, sizeof(bus), gpu_));
  const std::vector<int64_t> gpus = gather_all(bootstrap, {fnv1a(host + "/" + bus)});
  for (int a = 0; a < world; ++a)
    for (int b = a + 1; b < world; ++b)
      if (gpus[a] == gpus[b])
        ATTN_FAIL(kInput,
                  "NcclComm: ranks {} and {} would share one GPU (this machine runs {} ranks and "
                  "rank {} sees {} GPUs); NCCL needs one GPU per rank",
                  a, b, local_size, me, seen[2 * me + 1]);

  compute_ = cuda::compute_stream();
  comm_stream_ = cuda::comm_stream();
  ready_ = std::make_unique<Event>();  // events belong to the device current at creation
  barrier_buf_ = Tensor::zeros({1}, DType::kI32, buffer_device());

  // Round 3: rank 0's unique id to everyone, then the NCCL communicator (collective).
  ncclUniqueId id;
  static_assert(sizeof(id) % sizeof(int64_t) == 0);
  constexpr int64_t kIdWords = sizeof(id) / sizeof(int64_t);
  Tensor id_buf = Tensor::zeros({kIdWords}, DType::kI64);
  if (me == 0) {
    NCCL_CHECK(ncclGetUniqueId(&id));
    std::memcpy(id_buf.raw(), &id, sizeof(id));
  }
  bootstrap.broadcast(id_buf, 0);
  std::memcpy(&id, id_buf.raw(), sizeof(id));
  NCCL_CHECK(ncclCommInitRank(&comm_, world, id, me));
}

NcclComm::~NcclComm() {
  // Requests outliving their communicator would query freed NCCL state; end loudly instead.
  if (in_flight_ > 0)
    abort(1, fmt::format("NcclComm destroyed with {} operations in flight", in_flight_));
  if (!comm_) return;
  const ncclResult_t rc = broken_ ? ncclSuccess : ncclCommDestroy(comm_);
  if (rc != ncclSuccess)
    print_from_rank(fmt::format("ncclCommDestroy failed: {}", ncclGetErrorString(rc)));
}

void NcclComm::abort(int code, const std::string& message) {
  if (comm_ && !broken_) {
    broken_ = true;
    ncclCommAbort(comm_);
  }
  bootstrap_.abort(code, message);
  std::abort();  // unreachable (the bootstrap's abort ends the process); GCC cannot see it
}

void NcclComm::check_async(const std::string& op) {
  ncclResult_t async = ncclSuccess;
  NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
  if (async == ncclSuccess || async == ncclInProgress) return;
  // Kernels waiting for a dead peer never finish on their own: abort releases them.
  broken_ = true;
  ncclCommAbort(comm_);
  ATTN_FAIL(kInternal, "{}: NCCL failed asynchronously ({}; {}), e.g. a peer died", op,
            ncclGetErrorString(async), ncclGetLastError(nullptr));
}

void NcclComm::begin() {
  ATTN_CHECK(!broken_, "NcclComm: the NCCL communicator failed earlier and was aborted");
  CUDA_CHECK(cudaSetDevice(gpu_));
  flush_p2p();  // issue order is the order the caller started operations in
  order_after_compute();
}

// Buffers are written by kernels on the compute stream: NCCL reads them only after those.
void NcclComm::order_after_compute() {
  CUDA_CHECK(cudaEventRecord(ready_->get(), compute_));
  CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, ready_->get(), 0));
}

std::unique_ptr<PendingOp> NcclComm::finish(std::string op, int64_t elements) {
  auto done = std::make_shared<Completion>();
  CUDA_CHECK(cudaEventRecord(done->event.get(), comm_stream_));
  done->recorded = true;
  return std::make_unique<NcclPending>(*this, std::move(op), elements, std::move(done));
}

std::unique_ptr<PendingOp> NcclComm::add_p2p(CommBuffer buf, int peer, bool send, std::string op) {
  ATTN_CHECK(!broken_, "{}: the NCCL communicator failed earlier and was aborted", op);
  CUDA_CHECK(cudaSetDevice(gpu_));
  if (!p2p_) p2p_ = std::make_shared<Completion>();
  p2p_->ops.push_back({send, buf, peer});
  return std::make_unique<NcclPending>(*this, std::move(op), buf.count, p2p_);
}

// One group, so a rank's send and receive progress together (an exchange cannot deadlock).
void NcclComm::flush_p2p() {
  if (!p2p_) return;
  const std::shared_ptr<Completion> batch = std::move(p2p_);
  p2p_.reset();
  CUDA_CHECK(cudaSetDevice(gpu_));
  order_after_compute();
  Group group;
  for (const Completion::P2p& p : batch->ops) {
    if (p.buf.count == 0) continue;  // both sides agree on sizes, so both skip
    const size_t n = static_cast<size_t>(p.buf.count);
    if (p.send)
      NCCL_CHECK(ncclSend(p.buf.data, n, nccl_type(p.buf.dtype), p.peer, comm_, comm_stream_));
    else
      NCCL_CHECK(ncclRecv(p.buf.data, n, nccl_type(p.buf.dtype), p.peer, comm_, comm_stream_));
  }
  group.end();
  batch->ops.clear();
  CUDA_CHECK(cudaEventRecord(batch->event.get(), comm_stream_));
  batch->recorded = true;
}

// Zero-element operations issue nothing: every rank has the same counts (the interface's
// contract), so every rank skips the same calls, and NCCL never sees the null pointers.

std::unique_ptr<PendingOp> NcclComm::start_all_reduce_sum(CommBuffer buf) {
  begin();
  if (buf.count > 0)
    NCCL_CHECK(ncclAllReduce(buf.data, buf.data, static_cast<size_t>(buf.count),
                             nccl_type(buf.dtype), ncclSum, comm_, comm_stream_));
  return finish("all_reduce_sum", buf.count);
}

// Uneven counts: one ncclReduce per rank's chunk, rooted at that rank, in one group.
std::unique_ptr<PendingOp> NcclComm::start_reduce_scatter_sum(CommBuffer in, CommBuffer out,
                                                              const std::vector<int64_t>& counts) {
  begin();
  const ncclDataType_t type = nccl_type(in.dtype);
  if (all_equal(counts)) {
    if (counts[0] > 0)
      NCCL_CHECK(ncclReduceScatter(in.data, out.data, static_cast<size_t>(counts[0]), type, ncclSum,
                                   comm_, comm_stream_));
  } else {
    const Chunks c = Chunks::packed(counts);
    Group group;
    for (int r = 0; r < world_size(); ++r) {
      if (c.counts[r] == 0) continue;
      // The receive buffer matters at the root only.
      NCCL_CHECK(ncclReduce(at(in, c.offsets[r]), r == rank() ? out.data : nullptr,
                            static_cast<size_t>(c.counts[r]), type, ncclSum, r, comm_,
                            comm_stream_));
    }
    group.end();
  }
  return finish("reduce_scatter_sum", in.count);
}

// Uneven counts: one ncclBroadcast per rank's chunk, rooted at that rank, in one group.
std::unique_ptr<PendingOp> NcclComm::start_all_gather(CommBuffer in, CommBuffer out,
                                                      const std::vector<int64_t>& counts) {
  begin();
  const ncclDataType_t type = nccl_type(in.dtype);
  if (all_equal(counts)) {
    if (counts[0] > 0)
      NCCL_CHECK(ncclAllGather(in.data, out.data, static_cast<size_t>(counts[0]), type, comm_,
                               comm_stream_));
  } else {
    const Chunks c = Chunks::packed(counts);
    Group group;
    for (int r = 0; r < world_size(); ++r) {
      if (c.counts[r] == 0) continue;
      // The send buffer matters at the root only.
      NCCL_CHECK(ncclBroadcast(r == rank() ? in.data : nullptr, at(out, c.offsets[r]),
                               static_cast<size_t>(c.counts[r]), type, r, comm_, comm_stream_));
    }
    group.end();
  }
  return finish("all_gather", out.count);
}

std::unique_ptr<PendingOp> NcclComm::start_all_to_all_v(CommBuffer send, const Chunks& sc,
                                                        CommBuffer recv, const Chunks& rc) {
  const int me = rank();
  ATTN_CHECK(sc.counts[me] == rc.counts[me],
             "all_to_all_v: rank {} sends {} elements to itself but expects {}", me, sc.counts[me],
             rc.counts[me]);
  begin();
  const ncclDataType_t type = nccl_type(send.dtype);
  if (sc.counts[me] > 0)
    CUDA_CHECK(cudaMemcpyAsync(at(recv, rc.offsets[me]), at(send, sc.offsets[me]),
                               sc.counts[me] * dtype_size(send.dtype), cudaMemcpyDeviceToDevice,
                               comm_stream_));
  Group group;
  for (int p = 0; p < world_size(); ++p) {
    if (p == me) continue;
    if (sc.counts[p] > 0)
      NCCL_CHECK(ncclSend(at(send, sc.offsets[p]), static_cast<size_t>(sc.counts[p]), type, p,
                          comm_, comm_stream_));
    if (rc.counts[p] > 0)
      NCCL_CHECK(ncclRecv(at(recv, rc.offsets[p]), static_cast<size_t>(rc.counts[p]), type, p,
                          comm_, comm_stream_));
  }
  group.end();
  return finish("all_to_all_v", send.count);
}

std::unique_ptr<PendingOp> NcclComm::start_send(CommBuffer buf, int dest, int tag) {
  return add_p2p(buf, dest, true, fmt::format("send to rank {} (tag {})", dest, tag));
}

std::unique_ptr<PendingOp> NcclComm::start_recv(CommBuffer buf, int source, int tag) {
  return add_p2p(buf, source, false, fmt::format("recv from rank {} (tag {})", source, tag));
}

std::unique_ptr<PendingOp> NcclComm::start_broadcast(CommBuffer buf, int root) {
  begin();
  if (buf.count > 0)
    NCCL_CHECK(ncclBroadcast(buf.data, buf.data, static_cast<size_t>(buf.count),
                             nccl_type(buf.dtype), root, comm_, comm_stream_));
  return finish(fmt::format("broadcast from rank {}", root), buf.count);
}

// Completes on every rank only once every rank has issued it; wait() then returns.
std::unique_ptr<PendingOp> NcclComm::start_barrier() {
  begin();
  // Max of zeros: the buffer never changes, however many barriers run.
  NCCL_CHECK(ncclAllReduce(barrier_buf_.raw(), barrier_buf_.raw(), 1, ncclInt32, ncclMax, comm_,
                           comm_stream_));
  return finish("barrier", 0);
}

}  // namespace

bool built_with_nccl() {
  return true;
}

std::unique_ptr<Communicator> make_nccl_comm(Communicator& bootstrap, double timeout_s) {
  return std::make_unique<NcclComm>(bootstrap, timeout_s);
}

}  // namespace attn
