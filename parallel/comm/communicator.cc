// The interface's half of every operation: argument checks, done once here so that every
// backend gets valid buffers and every rank fails the same way before anything is sent.
#include "parallel/comm/communicator.h"

#include <cstdio>
#include <numeric>

namespace attn {

namespace {

// Tags up to 32767 are valid on every MPI (the standard's lower bound for MPI_TAG_UB).
constexpr int kMaxTag = 32767;

// MpiComm and LocalComm move host memory, NcclComm memory of this rank's GPU: a buffer
// elsewhere would be read as the wrong kind of pointer.
CommBuffer buffer_of(const Tensor& t, Device want, const char* op, const char* role) {
  ATTN_CHECK(t.defined(), "{}: the {} tensor is undefined", op, role);
  if (want.is_cpu())
    ATTN_CHECK(t.device().is_cpu(), "{}: the {} tensor {} is not on the CPU", op, role, t.str());
  else
    ATTN_CHECK(t.device() == want, "{}: the {} tensor {} is not on {} (this communicator's device)",
               op, role, t.str(), want.str());
  return {t.numel() > 0 ? t.raw() : nullptr, t.numel(), t.dtype()};
}

void check_summable(const Tensor& t, const char* op) {
  const DType d = t.dtype();
  ATTN_CHECK(d == DType::kF32 || d == DType::kF64 || d == DType::kI32 || d == DType::kI64,
             "{}: cannot sum {} tensors (f32, f64, i32 or i64)", op, dtype_name(d));
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  ATTN_CHECK(a.dtype() == b.dtype(), "{}: input {} and output {} differ in dtype", op, a.str(),
             b.str());
}

// MPI forbids aliased send and receive buffers outside MPI_IN_PLACE.
void check_disjoint(const CommBuffer& a, const CommBuffer& b, const char* op) {
  if (!a.data || !b.data) return;
  const char* a0 = static_cast<const char*>(a.data);
  const char* b0 = static_cast<const char*>(b.data);
  const char* a1 = a0 + a.count * dtype_size(a.dtype);
  const char* b1 = b0 + b.count * dtype_size(b.dtype);
  ATTN_CHECK(a1 <= b0 || b1 <= a0, "{}: input and output buffers overlap", op);
}

void check_counts(const std::vector<int64_t>& counts, int world, const char* op) {
  ATTN_CHECK(static_cast<int>(counts.size()) == world, "{}: {} counts for a world of {}", op,
             counts.size(), world);
  for (size_t r = 0; r < counts.size(); ++r)
    ATTN_CHECK(counts[r] >= 0, "{}: negative count {} for rank {}", op, counts[r], r);
}

int64_t total(const std::vector<int64_t>& counts) {
  return std::accumulate(counts.begin(), counts.end(), int64_t{0});
}

void check_chunks(const Chunks& c, const Tensor& t, int world, const char* op, const char* role) {
  check_counts(c.counts, world, op);
  ATTN_CHECK(c.offsets.size() == c.counts.size(), "{}: {} {} offsets for {} counts", op,
             c.offsets.size(), role, c.counts.size());
  for (size_t r = 0; r < c.counts.size(); ++r)
    ATTN_CHECK(c.offsets[r] >= 0 && c.offsets[r] + c.counts[r] <= t.numel(),
               "{}: {} chunk {} [{}, {}) lies outside {}", op, role, r, c.offsets[r],
               c.offsets[r] + c.counts[r], t.str());
}

void check_peer(int peer, int world, int tag, const char* op) {
  ATTN_CHECK(peer >= 0 && peer < world, "{}: rank {} outside the world of {}", op, peer, world);
  ATTN_CHECK(tag >= 0 && tag <= kMaxTag, "{}: tag {} outside [0, {}]", op, tag, kMaxTag);
}

}  // namespace

Chunks Chunks::packed(const std::vector<int64_t>& counts) {
  Chunks c{counts, std::vector<int64_t>(counts.size())};
  std::exclusive_scan(counts.begin(), counts.end(), c.offsets.begin(), int64_t{0});
  return c;
}

void Communicator::print_from_rank(const std::string& message) const {
  std::fflush(stdout);
  std::fprintf(stderr, "rank %d: %s\n", rank(), message.c_str());
  std::fflush(nullptr);
}

// ---- non-blocking: check, then let the backend start ----

Request Communicator::i_all_reduce_sum(Tensor& t) {
  const CommBuffer buf = buffer_of(t, buffer_device(), "all_reduce_sum", "buffer");
  check_summable(t, "all_reduce_sum");
  return Request(this, start_all_reduce_sum(buf), {t});
}

Request Communicator::i_reduce_scatter_sum(const Tensor& input, Tensor& output) {
  const int64_t n = output.defined() ? output.numel() : 0;
  ATTN_CHECK(input.defined() && input.numel() == world_size() * n,
             "reduce_scatter_sum: input {} is not world size ({}) x output {}",
             input.defined() ? input.str() : "undefined", world_size(),
             output.defined() ? output.str() : "undefined");
  return i_reduce_scatter_sum_v(input, output, std::vector<int64_t>(world_size(), n));
}

Request Communicator::i_reduce_scatter_sum_v(const Tensor& input, Tensor& output,
                                             const std::vector<int64_t>& counts) {
  const char* op = "reduce_scatter_sum";
  const CommBuffer in = buffer_of(input, buffer_device(), op, "input");
  const CommBuffer out = buffer_of(output, buffer_device(), op, "output");
  check_summable(input, op);
  check_same_dtype(input, output, op);
  check_counts(counts, world_size(), op);
  ATTN_CHECK(input.numel() == total(counts), "{}: input {} but counts sum to {}", op, input.str(),
             total(counts));
  ATTN_CHECK(output.numel() == counts[rank()], "{}: output {} but rank {}'s count is {}", op,
             output.str(), rank(), counts[rank()]);
  check_disjoint(in, out, op);
  return Request(this, start_reduce_scatter_sum(in, out, counts), {input, output});
}

Request Communicator::i_all_gather(const Tensor& input, Tensor& output) {
  ATTN_CHECK(input.defined(), "all_gather: the input tensor is undefined");
  return i_all_gather_v(input, output, std::vector<int64_t>(world_size(), input.numel()));
}

Request Communicator::i_all_gather_v(const Tensor& input, Tensor& output,
                                     const std::vector<int64_t>& counts) {
  const char* op = "all_gather";
  const CommBuffer in = buffer_of(input, buffer_device(), op, "input");
  const CommBuffer out = buffer_of(output, buffer_device(), op, "output");
  check_same_dtype(input, output, op);
  check_counts(counts, world_size(), op);
  ATTN_CHECK(input.numel() == counts[rank()], "{}: input {} but rank {}'s count is {}", op,
             input.str(), rank(), counts[rank()]);
  ATTN_CHECK(output.numel() == total(counts), "{}: output {} but counts sum to {}", op,
             output.str(), total(counts));
  check_disjoint(in, out, op);
  return Request(this, start_all_gather(in, out, counts), {input, output});
}

Request Communicator::i_all_to_all_v(const Tensor& send, const Chunks& send_chunks, Tensor& recv,
                                     const Chunks& recv_chunks) {
  const char* op = "all_to_all_v";
  const CommBuffer s = buffer_of(send, buffer_device(), op, "send");
  const CommBuffer r = buffer_of(recv, buffer_device(), op, "receive");
  check_same_dtype(send, recv, op);
  check_chunks(send_chunks, send, world_size(), op, "send");
  check_chunks(recv_chunks, recv, world_size(), op, "receive");
  check_disjoint(s, r, op);
  return Request(this, start_all_to_all_v(s, send_chunks, r, recv_chunks), {send, recv});
}

Request Communicator::i_send(const Tensor& t, int dest, int tag) {
  const CommBuffer buf = buffer_of(t, buffer_device(), "send", "buffer");
  check_peer(dest, world_size(), tag, "send");
  return Request(this, start_send(buf, dest, tag), {t});
}

Request Communicator::i_recv(Tensor& t, int source, int tag) {
  const CommBuffer buf = buffer_of(t, buffer_device(), "recv", "buffer");
  check_peer(source, world_size(), tag, "recv");
  return Request(this, start_recv(buf, source, tag), {t});
}

Request Communicator::i_broadcast(Tensor& t, int root) {
  const CommBuffer buf = buffer_of(t, buffer_device(), "broadcast", "buffer");
  ATTN_CHECK(root >= 0 && root < world_size(), "broadcast: root {} outside the world of {}", root,
             world_size());
  return Request(this, start_broadcast(buf, root), {t});
}

Request Communicator::i_barrier() {
  return Request(this, start_barrier(), {});
}

// ---- blocking: the non-blocking form, waited for ----

void Communicator::all_reduce_sum(Tensor& t) {
  i_all_reduce_sum(t).wait();
}
void Communicator::reduce_scatter_sum(const Tensor& input, Tensor& output) {
  i_reduce_scatter_sum(input, output).wait();
}
void Communicator::reduce_scatter_sum_v(const Tensor& input, Tensor& output,
                                        const std::vector<int64_t>& counts) {
  i_reduce_scatter_sum_v(input, output, counts).wait();
}
void Communicator::all_gather(const Tensor& input, Tensor& output) {
  i_all_gather(input, output).wait();
}
void Communicator::all_gather_v(const Tensor& input, Tensor& output,
                                const std::vector<int64_t>& counts) {
  i_all_gather_v(input, output, counts).wait();
}
void Communicator::all_to_all_v(const Tensor& send, const Chunks& send_chunks, Tensor& recv,
                                const Chunks& recv_chunks) {
  i_all_to_all_v(send, send_chunks, recv, recv_chunks).wait();
}
void Communicator::send(const Tensor& t, int dest, int tag) {
  i_send(t, dest, tag).wait();
}
void Communicator::recv(Tensor& t, int source, int tag) {
  i_recv(t, source, tag).wait();
}
void Communicator::broadcast(Tensor& t, int root) {
  i_broadcast(t, root).wait();
}
void Communicator::barrier() {
  i_barrier().wait();
}

}  // namespace attn
