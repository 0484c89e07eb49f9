#include "parallel/group_tree_reduce.h"

#include <fmt/format.h>

#include "framework/core/error.h"
#include "framework/core/threads.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {

bool power_of_two(int x) {
  return x > 0 && (x & (x - 1)) == 0;
}

int bit_reverse(int x, int bits) {
  int y = 0;
  for (int b = 0; b < bits; ++b) y |= ((x >> b) & 1) << (bits - 1 - b);
  return y;
}

// acc += x, elementwise (the only arithmetic of the tree).
void add_into(Tensor& acc, const Tensor& x) {
  detail::dispatch_float(acc, "group_tree_reduce", [&](auto tag) {
    using T = decltype(tag);
    T* a = acc.data<T>();
    const T* b = x.data<T>();
    parallel_chunks(acc.numel(), 1 << 15, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) a[i] += b[i];
    });
  });
}

}  // namespace

GroupTreeReduce::GroupTreeReduce(ParamStore& store, Communicator& comm, int groups)
    : store_(store), comm_(comm), groups_(groups) {
  const int world = comm.world_size();
  if (!power_of_two(groups) || !power_of_two(world) || groups % world != 0)
    throw Error(ErrorKind::kConfig, "parallel.reduce_groups",
                fmt::format("the deterministic reduction needs a power-of-two number of groups "
                            "that the (power-of-two) number of ranks divides; got {} groups on "
                            "{} ranks",
                            groups, world));
  local_ = groups / world;
  int bits = 0;
  while ((1 << bits) < local_) ++bits;
  for (int k = 0; k < local_; ++k) order_.push_back(bit_reverse(k, bits));
}

void GroupTreeReduce::add_group() {
  ATTN_CHECK(added_ < local_, "GroupTreeReduce: more than {} groups in one step", local_);
  ++added_;
  // In bit-reversed order, tree siblings are neighbours: carry like a binary counter.
  Tensor carry = store_.flat_grads();
  size_t level = 0;
  for (; level < full_.size() && full_[level]; ++level) {
    add_into(partial_[level], carry);
    carry = partial_[level];
    full_[level] = false;
  }
  if (level == partial_.size()) {
    partial_.push_back(Tensor::zeros(carry.shape(), carry.dtype()));
    full_.push_back(false);
  }
  partial_[level].copy_from(carry);
  full_[level] = true;
}

void GroupTreeReduce::finish() {
  ATTN_CHECK(added_ == local_, "GroupTreeReduce: finish() after {} of {} groups", added_, local_);
  // local_ is a power of two, so exactly the top level holds the whole local sum.
  Tensor grads = store_.flat_grads();
  grads.copy_from(partial_.back());
  full_.back() = false;
  added_ = 0;
  const int world = comm_.world_size(), rank = comm_.rank();
  if (world == 1) return;
  if (!peer_.defined()) peer_ = Tensor::zeros(grads.shape(), grads.dtype());
  for (int d = world / 2; d >= 1; d /= 2) {
    const int peer = rank ^ d;
    Request sent = comm_.i_send(grads, peer, d);
    comm_.recv(peer_, peer, d);
    sent.wait();
    add_into(grads, peer_);
  }
}

double GroupTreeReduce::sum(const std::vector<double>& local) {
  ATTN_CHECK(static_cast<int>(local.size()) == local_, "GroupTreeReduce::sum: {} values, want {}",
             local.size(), local_);
  const int world = comm_.world_size();
  Tensor mine = Tensor::from_vector<double>({local_}, local);
  Tensor all = Tensor::zeros({groups_}, DType::kF64);
  comm_.all_gather(mine, all);
  // Gathered rank-major (r * L + m); the tree indexes groups as j = r + m * N.
  const double* g = all.data<double>();
  std::vector<double> v(groups_);
  for (int r = 0; r < world; ++r)
    for (int m = 0; m < local_; ++m) v[r + m * world] = g[r * local_ + m];
  for (int half = groups_ / 2; half >= 1; half /= 2)
    for (int j = 0; j < half; ++j) v[j] += v[j + half];
  return v[0];
}

}  // namespace attn
