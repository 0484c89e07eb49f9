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
  // In bit-reversed order, tree siblings are neighbours: a binary counter of partial sums.
  Tensor t = store_.flat_grads().clone();
  int level = 0;
  while (!stack_.empty() && stack_.back().first == level) {
    add_into(stack_.back().second, t);
    t = stack_.back().second;
    stack_.pop_back();
    ++level;
  }
  stack_.emplace_back(level, t);
}

void GroupTreeReduce::finish() {
  ATTN_CHECK(added_ == local_ && stack_.size() == 1,
             "GroupTreeReduce: finish() after {} of {} groups", added_, local_);
  Tensor grads = store_.flat_grads();
  grads.copy_from(stack_.back().second);
  stack_.clear();
  added_ = 0;
  const int world = comm_.world_size(), rank = comm_.rank();
  if (world == 1) return;
  Tensor other = Tensor::zeros(grads.shape(), grads.dtype());
  for (int d = world / 2; d >= 1; d /= 2) {
    const int peer = rank ^ d;
    Request sent = comm_.i_send(grads, peer, d);
    comm_.recv(other, peer, d);
    sent.wait();
    add_into(grads, other);
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
