// The per-layer timeline of a CAD pass (SPEC-cad "Ping-pong"). Each stage of a layer is already
// the slowest rank's time: every exchange is a collective, so a stage ends with its last rank.
#pragma once

namespace attn::cad::sim {

// One layer of one pass for one (half) micro-batch. Forward: pre = Q/K/V projections, send = Q
// and K/V to the servers, attn = the slowest server's core attention, ret = O back, post = O
// projection and MLP. Backward runs the same stages in reverse order of the layer (pre = the MLP
// and O projection's backward, send = dO, attn = attention backward, ret = dQ/dK/dV, post = the
// Q/K/V projections' backward).
struct LayerStages {
  double pre = 0, send = 0, attn = 0, ret = 0, post = 0;
};

// Without ping-pong every stage waits for the one before: layers x (pre + send + attn + ret +
// post).
double sequential_pass_s(const LayerStages& x, int layers);

// Ping-pong over two halves A and B with their own plans, five ticks per layer: A's pre; A's send
// under B's pre; B's send under A's attention; A's return under B's attention; B's return under
// A's post fused with A's next-layer pre. B's post joins B's next-layer pre in the following
// layer's second tick, and the pass ends with B's last post. A tick lasts as long as the longer
// of its communication and its compute.
double ping_pong_pass_s(const LayerStages& a, const LayerStages& b, int layers);

}  // namespace attn::cad::sim
