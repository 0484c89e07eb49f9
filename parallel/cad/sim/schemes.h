// The schemes the CAD simulator compares, each on the same micro-batches of documents, the same
// cost model and the same network (SPEC-cad "Simulator"):
//   packing  naive packing: documents fill each rank's token budget in order, attention local
//            (a document cut at a rank boundary keeps its full causal context; its K/V prefix is
//            not charged to the network);
//   wlb      WLB-LLM variable-length packing, as DistCA implements it: documents longest first,
//            each to the bucket of least workload sum (l/128K)^2 + l/128K whose tokens stay under
//            2x the budget: attention balances, tokens (linear work, memory) do not;
//   cp       per-document context parallelism of degree c: groups of c ranks share c budgets;
//            every document piece is cut into 2c chunks, rank j of a group takes chunks j and
//            2c-1-j, K/V are all-gathered in forward and dK/dV reduce-scattered in backward;
//   cad      core attention disaggregation with the real planner (planner.h) on every rank as a
//            server, sequential or ping-pong (timeline.h).
// Ranks synchronise within a step only where the scheme does: packing and wlb at the step's end
// (the gradient all-reduce, equal for all schemes and not modelled), cp per layer inside a group,
// cad per layer across all ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parallel/cad/planner.h"
#include "parallel/cad/sim/costs.h"
#include "parallel/cad/sim/network.h"

namespace attn::cad::sim {

// A step's micro-batches, each a list of document lengths summing to ranks * tokens_per_rank.
using Batch = std::vector<std::vector<int64_t>>;

struct SimSetup {
  int ranks = 1;
  int64_t tokens_per_rank = 0;  // per micro-batch
  PlannerOptions planner;       // cad: eps and min_slice (its bytes come from the cost model)
};

struct SchemeResult {
  std::string scheme;
  int cp = 0;                                          // cp: the degree
  double step_s = 0;                                   // all micro-batches, forward and backward
  double compute_only_s = 0;                           // the same step with free communication
  double attention_max_s = 0, attention_mean_s = 0;    // per rank (server) per step
  double busy_mean_s = 0;                              // per rank: linear + attention work
  double memory_max_bytes = 0, memory_mean_bytes = 0;  // per GPU, peak over the micro-batches
  double planner_max_s = 0;  // cad: the slowest planner call (wall time here)
  int64_t tokens = 0;        // per step, all ranks

  double tokens_per_s() const { return step_s > 0 ? static_cast<double>(tokens) / step_s : 0; }
  double idle_fraction() const { return step_s > 0 ? 1 - busy_mean_s / step_s : 0; }
  double exposed_comm_s() const { return step_s - compute_only_s; }
  double attention_imbalance() const {
    return attention_mean_s > 0 ? attention_max_s / attention_mean_s : 1;
  }
};

SchemeResult simulate_packing(const Costs& costs, const Network& net, const SimSetup& setup,
                              const Batch& batch);
SchemeResult simulate_wlb(const Costs& costs, const Network& net, const SimSetup& setup,
                          const Batch& batch);
// cp must divide the ranks.
SchemeResult simulate_context_parallel(const Costs& costs, const Network& net,
                                       const SimSetup& setup, const Batch& batch, int cp);
SchemeResult simulate_cad(const Costs& costs, const Network& net, const SimSetup& setup,
                          const Batch& batch, bool ping_pong);

// WLB-LLM's packing of one micro-batch: the bucket (rank) of every document, in input order.
std::vector<int> wlb_buckets(const std::vector<int64_t>& lengths, int ranks, int64_t cap_tokens);

// The bytes one layer's forward moves between every pair of ranks for a plan: Q of each moved
// slice from its home and K/V of each (document, server) prefix row the server does not hold,
// from the row's home (the planner's accounting, plan.h), per (src, dst); O back separately.
struct PlanExchange {
  ByteMatrix q_kv;  // [src][server]
  ByteMatrix o;     // [server][home]
};
PlanExchange plan_exchange(const WorkerLayout& layout, const std::vector<Task>& tasks,
                           const ByteCosts& bytes);

}  // namespace attn::cad::sim
