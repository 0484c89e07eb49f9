// Collectives and point-to-point messages over a group of ranks, on flat host buffers; each
// operation X has a non-blocking i_X returning a Request. LocalComm is the world of one.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "parallel/comm/request.h"

namespace attn {

class LocalRecv;

// Per-rank pieces of a flat buffer, in elements: rank r's piece is [offsets[r], offsets[r] +
// counts[r]). packed() lays them out back to back in rank order.
struct Chunks {
  std::vector<int64_t> counts;
  std::vector<int64_t> offsets;
  static Chunks packed(const std::vector<int64_t>& counts);
};

// What a backend receives after the interface checked the arguments: raw memory on the
// backend's buffer_device().
struct CommBuffer {
  void* data = nullptr;
  int64_t count = 0;  // elements
  DType dtype = DType::kF32;
};

// Layers never see it; data parallel and CAD use it. X(...) is i_X(...).wait().
// Buffers are tensors on buffer_device() (always contiguous): the CPU for MpiComm and
// LocalComm, this rank's GPU for NcclComm. Sums take f32, f64, i32 or i64; data movement
// takes any dtype. Arguments are checked on each rank before anything is sent (a clear Error).
// That ranks agree on sizes and dtypes is the caller's contract: MPI does not check it reliably
// (a mismatch usually ends in an MPI error or the watchdog). Every rank must issue the same
// collectives in the same order.
class Communicator {
 public:
  using Request = attn::Request;  // also reachable as Communicator::Request
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Where every buffer handed to this communicator must live; checked before anything is sent.
  virtual Device buffer_device() const { return Device::cpu(); }

  // In place: every rank ends with the element-wise sum over ranks.
  void all_reduce_sum(Tensor& t);
  // input [world * n] -> output [n]: rank r gets the sum over ranks of input chunk r. Sizes
  // that do not divide by the world size: pad the buffer (flat arenas do) or use the _v form.
  void reduce_scatter_sum(const Tensor& input, Tensor& output);
  // input [sum(counts)] -> output [counts[rank]], chunks packed in rank order; zeros allowed.
  void reduce_scatter_sum_v(const Tensor& input, Tensor& output,
                            const std::vector<int64_t>& counts);
  // input [n] -> output [world * n]: chunk r of the output is rank r's input.
  void all_gather(const Tensor& input, Tensor& output);
  // input [counts[rank]] -> output [sum(counts)], chunks packed in rank order.
  void all_gather_v(const Tensor& input, Tensor& output, const std::vector<int64_t>& counts);
  // send's chunk d goes to rank d and lands in recv's chunk r there (r = this rank). A send
  // chunk's count must equal the matching receive chunk's count on the peer.
  void all_to_all_v(const Tensor& send, const Chunks& send_chunks, Tensor& recv,
                    const Chunks& recv_chunks);
  // Point to point; the receive buffer's size must equal the message's. Tags in [0, 32767].
  void send(const Tensor& t, int dest, int tag = 0);
  void recv(Tensor& t, int source, int tag = 0);
  // Every rank ends with root's values.
  void broadcast(Tensor& t, int root);
  void barrier();

  // Non-blocking forms: buffers must not be touched until the request completes.
  [[nodiscard]] Request i_all_reduce_sum(Tensor& t);
  [[nodiscard]] Request i_reduce_scatter_sum(const Tensor& input, Tensor& output);
  [[nodiscard]] Request i_reduce_scatter_sum_v(const Tensor& input, Tensor& output,
                                               const std::vector<int64_t>& counts);
  [[nodiscard]] Request i_all_gather(const Tensor& input, Tensor& output);
  [[nodiscard]] Request i_all_gather_v(const Tensor& input, Tensor& output,
                                       const std::vector<int64_t>& counts);
  [[nodiscard]] Request i_all_to_all_v(const Tensor& send, const Chunks& send_chunks, Tensor& recv,
                                       const Chunks& recv_chunks);
  [[nodiscard]] Request i_send(const Tensor& t, int dest, int tag = 0);
  [[nodiscard]] Request i_recv(Tensor& t, int source, int tag = 0);
  [[nodiscard]] Request i_broadcast(Tensor& t, int root);
  [[nodiscard]] Request i_barrier();

  // Prints "rank R: message" to stderr and ends the whole job with exit status `code` (0 is
  // turned into 1: an abort never reports success).
  [[noreturn]] virtual void abort(int code, const std::string& message) = 0;

 protected:
  // Backends: start the operation on checked buffers; nullptr means already complete. Counts
  // are per rank (size world_size()) and sum to the packed buffer's count.
  virtual std::unique_ptr<PendingOp> start_all_reduce_sum(CommBuffer buf) = 0;
  virtual std::unique_ptr<PendingOp> start_reduce_scatter_sum(
      CommBuffer in, CommBuffer out, const std::vector<int64_t>& counts) = 0;
  virtual std::unique_ptr<PendingOp> start_all_gather(CommBuffer in, CommBuffer out,
                                                      const std::vector<int64_t>& counts) = 0;
  virtual std::unique_ptr<PendingOp> start_all_to_all_v(CommBuffer send, const Chunks& sc,
                                                        CommBuffer recv, const Chunks& rc) = 0;
  virtual std::unique_ptr<PendingOp> start_send(CommBuffer buf, int dest, int tag) = 0;
  virtual std::unique_ptr<PendingOp> start_recv(CommBuffer buf, int source, int tag) = 0;
  virtual std::unique_ptr<PendingOp> start_broadcast(CommBuffer buf, int root) = 0;
  virtual std::unique_ptr<PendingOp> start_barrier() = 0;

  // Prints "rank R: message" and flushes every stdio stream (the job is about to die).
  void print_from_rank(const std::string& message) const;
};

// The world of one, and the serial reference the MPI tests check against: sums are identities,
// scatters and gathers copies, a send is buffered until the matching receive takes it.
class LocalComm final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  [[noreturn]] void abort(int code, const std::string& message) override;

 protected:
  std::unique_ptr<PendingOp> start_all_reduce_sum(CommBuffer) override { return nullptr; }
  std::unique_ptr<PendingOp> start_reduce_scatter_sum(CommBuffer in, CommBuffer out,
                                                      const std::vector<int64_t>&) override;
  std::unique_ptr<PendingOp> start_all_gather(CommBuffer in, CommBuffer out,
                                              const std::vector<int64_t>&) override;
  std::unique_ptr<PendingOp> start_all_to_all_v(CommBuffer send, const Chunks& sc, CommBuffer recv,
                                                const Chunks& rc) override;
  std::unique_ptr<PendingOp> start_send(CommBuffer buf, int dest, int tag) override;
  std::unique_ptr<PendingOp> start_recv(CommBuffer buf, int source, int tag) override;
  std::unique_ptr<PendingOp> start_broadcast(CommBuffer, int) override { return nullptr; }
  std::unique_ptr<PendingOp> start_barrier() override { return nullptr; }

 private:
  friend class LocalRecv;
  struct Message {
    int tag;
    DType dtype;
    std::vector<char> bytes;
  };
  std::deque<Message> mailbox_;     // sends to self not yet received, in send order
  std::vector<LocalRecv*> posted_;  // receives not yet matched, in posting order
};

}  // namespace attn
