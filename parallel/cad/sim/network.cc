#include "parallel/cad/sim/network.h"

#include <algorithm>

#include "framework/core/error.h"
#include "parallel/cad/sim/costs.h"

namespace attn::cad::sim {

Network::Network(const Hardware& hw, int tp, int ranks)
    : ranks_(ranks),
      ranks_per_node_(std::max(1, hw.gpus_per_node / tp)),
      intra_alpha_(hw.intra_alpha_s),
      intra_bw_(hw.intra_bytes_per_s * tp),
      inter_alpha_(hw.inter_alpha_s),
      inter_bw_(hw.inter_bytes_per_s * tp) {
  if (ranks < 1) ATTN_FAIL(kInput, "cad-sim: {} ranks", ranks);
  if (!(intra_bw_ > 0) || !(inter_bw_ > 0))
    ATTN_FAIL(kInput, "cad-sim: hardware {} needs positive link bandwidths", hw.name);
}

double Network::all_to_all_s(const ByteMatrix& bytes) const {
  std::vector<double> intra_out(ranks_), intra_in(ranks_), inter_out(ranks_), inter_in(ranks_);
  for (int s = 0; s < ranks_; ++s)
    for (int d = 0; d < ranks_; ++d) {
      const auto b = static_cast<double>(bytes[s][d]);
      if (s == d || b == 0) continue;
      (same_node(s, d) ? intra_out : inter_out)[s] += b;
      (same_node(s, d) ? intra_in : inter_in)[d] += b;
    }
  double worst = 0;
  for (int r = 0; r < ranks_; ++r) {
    const double intra = std::max(intra_out[r], intra_in[r]);
    const double inter = std::max(inter_out[r], inter_in[r]);
    const double t = std::max(intra > 0 ? intra_alpha_ + intra / intra_bw_ : 0.0,
                              inter > 0 ? inter_alpha_ + inter / inter_bw_ : 0.0);
    worst = std::max(worst, t);
  }
  return worst;
}

double Network::ring_all_gather_s(int first, int count, int64_t bytes) const {
  if (count <= 1 || bytes <= 0) return 0;
  const bool one_node = same_node(first, first + count - 1);
  const double alpha = one_node ? intra_alpha_ : inter_alpha_;
  const double bw = one_node ? intra_bw_ : inter_bw_;
  return (count - 1) * (alpha + static_cast<double>(bytes) / bw);
}

}  // namespace attn::cad::sim
