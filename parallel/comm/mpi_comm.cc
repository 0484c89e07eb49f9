// MpiComm: each operation is started with MPI's non-blocking call and completed by polling
// MPI_Test (the watchdog), so a lost peer ends the job with a message instead of a hang.
#include "parallel/comm/mpi_comm.h"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <functional>

namespace attn {

struct MpiComm::Handle {
  MPI_Comm comm = MPI_COMM_NULL;
};

namespace {

int g_instances = 0;            // live MpiComm objects
bool g_we_initialised = false;  // MPI_Init_thread was ours, so MPI_Finalize is ours too

std::string mpi_error_string(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  return std::string(text, len);
}

const char* repo_path(const char* file) {
  const char* rel = std::strstr(file, "parallel/");
  return rel ? rel : file;
}

// An MPI failure leaves the peers unable to continue, so it ends the job rather than throwing.
void check_mpi(MpiComm& comm, int rc, const char* expr, const char* file, int line) {
  if (rc == MPI_SUCCESS) return;
  comm.abort(
      1, fmt::format("{} failed ({}:{}): {}", expr, repo_path(file), line, mpi_error_string(rc)));
}
#define ATTN_MPI_CHECK(comm, expr) check_mpi((comm), (expr), #expr, __FILE__, __LINE__)

MPI_Datatype mpi_type(DType d) {
  switch (d) {
    case DType::kF32:
      return MPI_FLOAT;
    case DType::kF64:
      return MPI_DOUBLE;
    case DType::kBF16:
      return MPI_UINT16_T;  // moved as raw bits; sums reject bf16 before reaching MPI
    case DType::kI32:
      return MPI_INT32_T;
    case DType::kI64:
      return MPI_INT64_T;
  }
  ATTN_FAIL(kInternal, "no MPI type for dtype {}", static_cast<int>(d));
}

// MPI counts and displacements are ints.
int to_int(int64_t n, const char* op) {
  ATTN_CHECK(n <= INT_MAX, "{}: {} elements exceed MPI's int counts; split the buffer", op, n);
  return static_cast<int>(n);
}

bool all_equal(const std::vector<int64_t>& v) {
  return std::adjacent_find(v.begin(), v.end(), std::not_equal_to<>()) == v.end();
}

}  // namespace

// One started MPI operation. Owns what MPI reads until completion (count arrays).
class MpiPending final : public PendingOp {
 public:
  MpiPending(MpiComm& comm, std::string op, int64_t elements)
      : comm_(comm), op_(std::move(op)), elements_(elements) {
    ++comm_.in_flight_;
  }
  ~MpiPending() override { --comm_.in_flight_; }

  MPI_Comm mpi() const { return comm_.handle_->comm; }
  MPI_Request* request() { return &request_; }
  // Count and displacement arrays: MPI reads them until the operation completes.
  std::vector<int>& ints() { return ints_; }
  // Receives: the message must fill the buffer exactly (MPI would accept a shorter one).
  void expect_count(int n, MPI_Datatype type) {
    expect_ = n;
    type_ = type;
  }

  bool test() override {
    int done = 0;
    MPI_Status status;
    ATTN_MPI_CHECK(comm_, MPI_Test(&request_, &done, &status));
    if (done && expect_ >= 0) {
      int got = 0;
      ATTN_MPI_CHECK(comm_, MPI_Get_count(&status, type_, &got));
      if (got != expect_)
        comm_.abort(1,
                    fmt::format("{}: received {} elements into a buffer of {}", op_, got, expect_));
    }
    return done != 0;
  }

  void wait() override {
    wait_with_watchdog(comm_.timeout_s(), [&] {
      comm_.abort(3, fmt::format("watchdog: {} ({} elements) made no progress for {:g} s; "
                                 "aborting",
                                 op_, elements_, comm_.timeout_s()));
    });
  }

 private:
  MpiComm& comm_;
  std::string op_;  // names the operation in watchdog and error messages
  int64_t elements_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  std::vector<int> ints_;
  int expect_ = -1;
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
};

MpiComm::MpiComm(double timeout_s) : handle_(std::make_unique<Handle>()), timeout_s_(timeout_s) {
  ATTN_CHECK(timeout_s > 0, "MpiComm: timeout_s must be positive, got {}", timeout_s);
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  if (finalised)
    ATTN_FAIL(kInternal,
              "MpiComm: MPI was finalised already and cannot start again in this "
              "process (keep one MpiComm alive for the whole run)");
  if (!initialised) {
    int provided = 0;
    const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) ATTN_FAIL(kInternal, "MPI_Init_thread failed: {}", mpi_error_string(rc));
    g_we_initialised = true;
    if (provided < MPI_THREAD_FUNNELED)
      ATTN_FAIL(kInternal, "MPI provides thread level {} (< MPI_THREAD_FUNNELED)", provided);
  }
  ATTN_MPI_CHECK(*this, MPI_Comm_dup(MPI_COMM_WORLD, &handle_->comm));
  // Errors come back as return codes, so check_mpi can say which call failed on which rank.
  ATTN_MPI_CHECK(*this, MPI_Comm_set_errhandler(handle_->comm, MPI_ERRORS_RETURN));
  ATTN_MPI_CHECK(*this, MPI_Comm_rank(handle_->comm, &rank_));
  ATTN_MPI_CHECK(*this, MPI_Comm_size(handle_->comm, &world_size_));
  ++g_instances;
}

MpiComm::~MpiComm() {
  // Requests outliving their communicator would poll freed MPI state; end loudly instead.
  if (in_flight_ > 0)
    abort(1, fmt::format("MpiComm destroyed with {} operations in flight", in_flight_));
  MPI_Comm_free(&handle_->comm);
  if (--g_instances == 0 && g_we_initialised) MPI_Finalize();
}

void MpiComm::abort(int code, const std::string& message) {
  print_from_rank(message);
  code = code == 0 ? 1 : code;
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  if (initialised && !finalised) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

std::unique_ptr<PendingOp> MpiComm::start_all_reduce_sum(CommBuffer buf) {
  auto p = std::make_unique<MpiPending>(*this, "all_reduce_sum", buf.count);
  ATTN_MPI_CHECK(*this, MPI_Iallreduce(MPI_IN_PLACE, buf.data, to_int(buf.count, "all_reduce_sum"),
                                       mpi_type(buf.dtype), MPI_SUM, p->mpi(), p->request()));
  return p;
}

std::unique_ptr<PendingOp> MpiComm::start_reduce_scatter_sum(CommBuffer in, CommBuffer out,
                                                             const std::vector<int64_t>& counts) {
  const char* op = "reduce_scatter_sum";
  auto p = std::make_unique<MpiPending>(*this, op, in.count);
  const MPI_Datatype type = mpi_type(in.dtype);
  if (all_equal(counts)) {
    ATTN_MPI_CHECK(*this, MPI_Ireduce_scatter_block(in.data, out.data, to_int(counts[0], op), type,
                                                    MPI_SUM, p->mpi(), p->request()));
  } else {
    for (int64_t c : counts) p->ints().push_back(to_int(c, op));
    ATTN_MPI_CHECK(*this, MPI_Ireduce_scatter(in.data, out.data, p->ints().data(), type, MPI_SUM,
                                              p->mpi(), p->request()));
  }
  return p;
}

std::unique_ptr<PendingOp> MpiComm::start_all_gather(CommBuffer in, CommBuffer out,
                                                     const std::vector<int64_t>& counts) {
  const char* op = "all_gather";
  auto p = std::make_unique<MpiPending>(*this, op, out.count);
  const MPI_Datatype type = mpi_type(in.dtype);
  if (all_equal(counts)) {
    const int n = to_int(counts[0], op);
    ATTN_MPI_CHECK(*this,
                   MPI_Iallgather(in.data, n, type, out.data, n, type, p->mpi(), p->request()));
  } else {
    const Chunks c = Chunks::packed(counts);
    std::vector<int>& ints = p->ints();  // [counts..., displacements...]
    for (int64_t n : c.counts) ints.push_back(to_int(n, op));
    for (int64_t o : c.offsets) ints.push_back(to_int(o, op));
    const int w = world_size();
    ATTN_MPI_CHECK(*this,
                   MPI_Iallgatherv(in.data, to_int(in.count, op), type, out.data, ints.data(),
                                   ints.data() + w, type, p->mpi(), p->request()));
  }
  return p;
}

std::unique_ptr<PendingOp> MpiComm::start_all_to_all_v(CommBuffer send, const Chunks& sc,
                                                       CommBuffer recv, const Chunks& rc) {
  const char* op = "all_to_all_v";
  auto p = std::make_unique<MpiPending>(*this, op, send.count);
  std::vector<int>& ints = p->ints();  // [send counts, send offsets, recv counts, recv offsets]
  for (const std::vector<int64_t>* v : {&sc.counts, &sc.offsets, &rc.counts, &rc.offsets})
    for (int64_t n : *v) ints.push_back(to_int(n, op));
  const int w = world_size();
  const MPI_Datatype type = mpi_type(send.dtype);
  ATTN_MPI_CHECK(*this, MPI_Ialltoallv(send.data, ints.data(), ints.data() + w, type, recv.data,
                                       ints.data() + 2 * w, ints.data() + 3 * w, type, p->mpi(),
                                       p->request()));
  return p;
}

std::unique_ptr<PendingOp> MpiComm::start_send(CommBuffer buf, int dest, int tag) {
  auto p = std::make_unique<MpiPending>(*this, fmt::format("send to rank {} (tag {})", dest, tag),
                                        buf.count);
  ATTN_MPI_CHECK(*this, MPI_Isend(buf.data, to_int(buf.count, "send"), mpi_type(buf.dtype), dest,
                                  tag, p->mpi(), p->request()));
  return p;
}

std::unique_ptr<PendingOp> MpiComm::start_recv(CommBuffer buf, int source, int tag) {
  auto p = std::make_unique<MpiPending>(
      *this, fmt::format("recv from rank {} (tag {})", source, tag), buf.count);
  const int n = to_int(buf.count, "recv");
  p->expect_count(n, mpi_type(buf.dtype));
  ATTN_MPI_CHECK(*this,
                 MPI_Irecv(buf.data, n, mpi_type(buf.dtype), source, tag, p->mpi(), p->request()));
  return p;
}

std::unique_ptr<PendingOp> MpiComm::start_broadcast(CommBuffer buf, int root) {
  auto p =
      std::make_unique<MpiPending>(*this, fmt::format("broadcast from rank {}", root), buf.count);
  ATTN_MPI_CHECK(*this, MPI_Ibcast(buf.data, to_int(buf.count, "broadcast"), mpi_type(buf.dtype),
                                   root, p->mpi(), p->request()));
  return p;
}

std::unique_ptr<PendingOp> MpiComm::start_barrier() {
  auto p = std::make_unique<MpiPending>(*this, "barrier", 0);
  ATTN_MPI_CHECK(*this, MPI_Ibarrier(p->mpi(), p->request()));
  return p;
}

}  // namespace attn
