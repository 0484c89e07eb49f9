#include "parallel/comm/request.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <thread>

#include "parallel/comm/communicator.h"

namespace attn {

// A collective between ranks on one node completes in microseconds: poll without sleeping
// that long, then sleep in growing steps up to 1 ms so waiting ranks leave the cores to the
// others (ranks may outnumber cores).
void PendingOp::wait_with_watchdog(double timeout_s, const std::function<void()>& stuck) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kBusyPoll = std::chrono::microseconds(100);
  constexpr auto kMaxSleep = std::chrono::microseconds(1000);
  const auto start = Clock::now();
  const auto limit = std::chrono::duration<double>(timeout_s);
  std::chrono::microseconds pause(5);
  while (!test()) {
    const auto waited = Clock::now() - start;
    if (waited < kBusyPoll) continue;
    if (waited > limit) stuck();
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, kMaxSleep);
  }
}

Request::Request(Communicator* comm, std::unique_ptr<PendingOp> op, std::vector<Tensor> buffers)
    : comm_(comm), op_(std::move(op)) {
  if (op_) buffers_ = std::move(buffers);
}

Request& Request::operator=(Request&& other) noexcept {
  if (this != &other) {
    wait_or_abort();
    comm_ = other.comm_;
    op_ = std::move(other.op_);
    buffers_ = std::move(other.buffers_);
  }
  return *this;
}

Request::~Request() {
  wait_or_abort();
}

void Request::wait() {
  if (!op_) return;
  // Taken out first: a wait that throws (LocalComm's unmatched receive) leaves nothing behind
  // for the destructor to wait for again.
  std::vector<Tensor> buffers = std::move(buffers_);  // outlives op
  std::unique_ptr<PendingOp> op = std::move(op_);
  op->wait();
}

bool Request::test() {
  if (op_ && op_->test()) {
    op_.reset();
    buffers_.clear();
  }
  return done();
}

// A destructor cannot throw, and returning without the operation done would leave the peers
// (or MPI writing into freed memory) behind, so a failed wait ends the job.
void Request::wait_or_abort() noexcept {
  try {
    wait();
  } catch (const std::exception& e) {
    comm_->abort(1, std::string("a request destroyed before completion failed: ") + e.what());
  }
}

}  // namespace attn
