#include "parallel/cad/sim/timeline.h"

#include <algorithm>

namespace attn::cad::sim {

double sequential_pass_s(const LayerStages& x, int layers) {
  return layers * (x.pre + x.send + x.attn + x.ret + x.post);
}

double ping_pong_pass_s(const LayerStages& a, const LayerStages& b, int layers) {
  double t = a.pre;
  for (int l = 0; l < layers; ++l) {
    const bool first = l == 0, last = l == layers - 1;
    t += std::max(a.send, (first ? 0 : b.post) + b.pre);
    t += std::max(b.send, a.attn);
    t += std::max(a.ret, b.attn);
    t += std::max(b.ret, a.post + (last ? 0 : a.pre));
  }
  return t + b.post;
}

}  // namespace attn::cad::sim
