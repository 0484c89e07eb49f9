// LocalComm: the world of one. Everything completes at once except a receive posted before its
// send, which completes when the send arrives (or fails when waited for: nothing else can send).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "parallel/comm/communicator.h"

namespace attn {

namespace {

void copy_elements(CommBuffer dst, int64_t dst_offset, CommBuffer src, int64_t src_offset,
                   int64_t count) {
  if (count == 0) return;
  const size_t es = dtype_size(src.dtype);
  std::memcpy(static_cast<char*>(dst.data) + dst_offset * es,
              static_cast<const char*>(src.data) + src_offset * es, count * es);
}

}  // namespace

// A receive waiting for a send to self. Registered with the communicator so that a send goes
// to the earliest posted receive with its tag (MPI's matching order). Single-threaded, so if
// the send has not happened by the time the receive is waited for, it never will: fail instead
// of hanging.
class LocalRecv final : public PendingOp {
 public:
  LocalRecv(LocalComm& comm, CommBuffer buf, int tag) : comm_(comm), buf_(buf), tag_(tag) {
    comm_.posted_.push_back(this);
  }
  ~LocalRecv() override { std::erase(comm_.posted_, this); }

  bool test() override { return done_; }
  void wait() override {
    ATTN_CHECK(done_,
               "recv from rank 0 with tag {} waits for a send that never comes (a world "
               "of one, and nothing was sent with that tag)",
               tag_);
  }

  int tag() const { return tag_; }
  void deliver(const LocalComm::Message& m) {
    const size_t want = buf_.count * dtype_size(buf_.dtype);
    ATTN_CHECK(m.dtype == buf_.dtype && m.bytes.size() == want,
               "recv: message of {} bytes ({}) into a buffer of {} bytes ({}), tag {}",
               m.bytes.size(), dtype_name(m.dtype), want, dtype_name(buf_.dtype), tag_);
    if (want) std::memcpy(buf_.data, m.bytes.data(), want);
    done_ = true;
    std::erase(comm_.posted_, this);
  }

 private:
  LocalComm& comm_;
  CommBuffer buf_;
  int tag_;
  bool done_ = false;
};

void LocalComm::abort(int code, const std::string& message) {
  print_from_rank(message);
  // _Exit, not exit: abort may be called from a destructor or with locks held, where running
  // static destructors could deadlock; stdio was flushed above.
  std::_Exit(code == 0 ? 1 : code);
}

std::unique_ptr<PendingOp> LocalComm::start_reduce_scatter_sum(CommBuffer in, CommBuffer out,
                                                               const std::vector<int64_t>&) {
  copy_elements(out, 0, in, 0, in.count);
  return nullptr;
}

std::unique_ptr<PendingOp> LocalComm::start_all_gather(CommBuffer in, CommBuffer out,
                                                       const std::vector<int64_t>&) {
  copy_elements(out, 0, in, 0, in.count);
  return nullptr;
}

std::unique_ptr<PendingOp> LocalComm::start_all_to_all_v(CommBuffer send, const Chunks& sc,
                                                         CommBuffer recv, const Chunks& rc) {
  ATTN_CHECK(sc.counts[0] == rc.counts[0],
             "all_to_all_v: rank 0 sends {} elements to itself but expects {}", sc.counts[0],
             rc.counts[0]);
  copy_elements(recv, rc.offsets[0], send, sc.offsets[0], sc.counts[0]);
  return nullptr;
}

// Buffered like MPI's eager protocol, so send-then-recv to self works without a second thread.
std::unique_ptr<PendingOp> LocalComm::start_send(CommBuffer buf, int, int tag) {
  const char* p = static_cast<const char*>(buf.data);
  Message m{tag, buf.dtype, std::vector<char>(p, p + buf.count * dtype_size(buf.dtype))};
  for (LocalRecv* r : posted_) {
    if (r->tag() != tag) continue;
    r->deliver(m);
    return nullptr;
  }
  mailbox_.push_back(std::move(m));
  return nullptr;
}

std::unique_ptr<PendingOp> LocalComm::start_recv(CommBuffer buf, int, int tag) {
  auto op = std::make_unique<LocalRecv>(*this, buf, tag);
  for (auto it = mailbox_.begin(); it != mailbox_.end(); ++it) {
    if (it->tag != tag) continue;  // messages with one tag are received in send order
    op->deliver(*it);
    mailbox_.erase(it);
    return nullptr;
  }
  return op;
}

}  // namespace attn
