// The deterministic gradient reduction: the global batch is cut into G sample groups and their
// gradients are summed in one fixed binary tree, so N ranks give the bits of one rank.
#pragma once

#include <vector>

#include "framework/core/param_store.h"
#include "parallel/comm/communicator.h"

namespace attn {

// Floating-point addition is commutative but not associative: a sum is reproducible when its
// tree is. Group j (0 <= j < G, G a power of two) lives on rank j mod N as its local group
// m = j div N (N a power of two dividing G). The tree adds j and j + G/2 first, then j and
// j + G/4, ...: the first log2(G/N) levels join groups of one rank, the last log2(N) levels are
// a butterfly exchange between ranks r and r ^ d (d = N/2, ..., 1), both sides adding the same
// two values. Memory: log2(G/N) + 1 extra gradient buffers per rank.
class GroupTreeReduce {
 public:
  // Throws kConfig unless `groups` and the world size are powers of two and the world divides
  // the groups.
  GroupTreeReduce(ParamStore& store, Communicator& comm, int groups);

  int groups() const { return groups_; }
  int local_groups() const { return local_; }
  // The order in which a rank must hand in its local groups (local indices m): bit-reversed,
  // so the tree can be built as a stack while the groups are computed.
  const std::vector<int>& order() const { return order_; }

  // Takes the flat gradients as local group order()[k], for the k-th call of the step.
  void add_group();
  // Leaves the sum over all groups of all ranks in the flat gradients of every rank.
  void finish();
  // The same tree over scalars: `local[m]` is local group m's value; the total on every rank.
  double sum(const std::vector<double>& local);

 private:
  ParamStore& store_;
  Communicator& comm_;
  int groups_, local_;
  std::vector<int> order_;
  // A binary counter of partial sums: partial_[k] holds the sum of 2^k groups while full_[k].
  // Allocated once; a step copies at most one buffer per group.
  std::vector<Tensor> partial_;
  std::vector<bool> full_;
  Tensor peer_;  // the butterfly's receive buffer
  int added_ = 0;
};

}  // namespace attn
