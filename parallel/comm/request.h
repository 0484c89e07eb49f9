// Handle to a non-blocking communication operation: wait() blocks until it completes, test()
// asks without blocking. Move-only; destroying an unfinished request waits for it.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "framework/core/tensor.h"

namespace attn {

class Communicator;

// A backend's in-flight operation (an MPI_Request, a pending local receive, ...).
class PendingOp {
 public:
  virtual ~PendingOp() = default;
  // True once the operation has completed; never blocks.
  virtual bool test() = 0;
  // Blocks until completion. Backends bound the wait (MpiComm: the watchdog aborts the job).
  virtual void wait() = 0;

 protected:
  // The watchdog wait of the MPI and NCCL backends: polls test() (busy for 100 us, then
  // sleeping with back-off up to 1 ms); after timeout_s without completion calls `stuck`,
  // which ends the job and does not return.
  void wait_with_watchdog(double timeout_s, const std::function<void()>& stuck);
};

// A request must not outlive its communicator (MpiComm aborts if destroyed with operations in
// flight).
class Request {
 public:
  Request() = default;  // an already completed request
  // op == nullptr: the operation completed while it was started (LocalComm). `buffers` stay
  // alive until completion, so a caller may drop its own handles right after starting.
  Request(Communicator* comm, std::unique_ptr<PendingOp> op, std::vector<Tensor> buffers);
  Request(Request&& other) noexcept = default;
  Request& operator=(Request&& other) noexcept;  // waits for the request it replaces
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  // An in-flight operation must not outlive its request (MPI would write into freed memory, or
  // the peers would wait forever), so the destructor waits; a failure there aborts the job.
  ~Request();

  void wait();
  bool test();  // true once complete (then the buffers hold the result)
  bool done() const { return op_ == nullptr; }

 private:
  void wait_or_abort() noexcept;

  Communicator* comm_ = nullptr;
  std::unique_ptr<PendingOp> op_;
  std::vector<Tensor> buffers_;
};

}  // namespace attn
