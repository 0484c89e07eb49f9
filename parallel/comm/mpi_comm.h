// Communicator over OpenMPI (host buffers): every operation is MPI's non-blocking form plus a
// watchdog wait that aborts the job, naming the operation, if it makes no progress in timeout_s.
#pragma once

#include <memory>
#include <string>

#include "parallel/comm/communicator.h"

namespace attn {

class MpiComm final : public Communicator {
 public:
  // Initialises MPI (MPI_THREAD_FUNNELED: only the main thread calls MPI) unless something
  // already did, and works on a duplicate of MPI_COMM_WORLD. MPI_Finalize runs when the last
  // MpiComm is destroyed; MPI cannot start again after that, so a later MpiComm throws.
  explicit MpiComm(double timeout_s = 300.0);
  ~MpiComm() override;
  MpiComm(const MpiComm&) = delete;
  MpiComm& operator=(const MpiComm&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  double timeout_s() const { return timeout_s_; }
  // MPI_Abort on MPI_COMM_WORLD: mpirun kills every rank and exits with `code`.
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
  friend class MpiPending;
  struct Handle;  // the MPI_Comm, kept out of this header so users need no mpi.h
  std::unique_ptr<Handle> handle_;
  int rank_ = 0;
  int world_size_ = 1;
  double timeout_s_;
  int in_flight_ = 0;  // started and not yet completed; must be 0 when the communicator dies
};

}  // namespace attn
