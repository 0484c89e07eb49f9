// The simulator's alpha-beta network: a message costs alpha plus bytes over the link's
// bandwidth, links inside a node (NVLink) and across nodes (one NIC per GPU) differ. A simulated
// rank is a tensor-parallel group of `tp` GPUs, so its bandwidth is tp times one GPU's.
#pragma once

#include <cstdint>
#include <vector>

namespace attn::cad::sim {

struct Hardware;

// bytes[src][dst] of one exchange; the diagonal (a rank to itself) is free.
using ByteMatrix = std::vector<std::vector<int64_t>>;

class Network {
 public:
  Network(const Hardware& hw, int tp, int ranks);

  int ranks() const { return ranks_; }
  bool same_node(int a, int b) const { return a / ranks_per_node_ == b / ranks_per_node_; }

  // One all-to-all-v: every rank sends and receives at once; intra- and inter-node traffic use
  // different links, so a rank takes the longer of the two, and the exchange ends with the
  // slowest rank (it is a collective).
  double all_to_all_s(const ByteMatrix& bytes) const;
  // A ring all-gather among ranks [first, first + count), each contributing `bytes`: count - 1
  // steps of alpha + bytes / bandwidth over the ring's slowest link.
  double ring_all_gather_s(int first, int count, int64_t bytes) const;

 private:
  int ranks_, ranks_per_node_;
  double intra_alpha_, intra_bw_, inter_alpha_, inter_bw_;
};

}  // namespace attn::cad::sim
