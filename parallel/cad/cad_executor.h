// Core attention disaggregation's distributed executor (SPEC-cad "Data movement", "Correctness
// contract"): every rank is a worker for its own tokens and an attention server for the tasks
// the planner gives it. Per layer: all ranks' document lengths are gathered (a few integers),
// planned once per batch (and the plans' hashes compared across ranks), Q and deduplicated K/V
// go to the servers in one all-to-all-v, each server runs its tasks as one packed core-attention
// call with bottom-right causal masks, and O with the row log-sum-exp comes back in a second.
// Backward: dO out, dQ/dK/dV back, dK/dV summed in two fixed-order stages (over a server's tasks
// in plan order, then over servers in rank order on the home worker).
//
// Bit-identical to one rank: O, lse and dQ (every row is computed from its whole causal prefix
// on one server, and documents are cut only on the kernel's query tiles, so a server runs the
// very tiles one rank would); dK/dV up to the order of the partial sums.
//
// Runs locally (no communication, the same numbers) whenever no gradient is recorded
// (evaluation: ranks may run different numbers of forwards) or the call needs what the
// distributed path lacks (statistics, a sink, a mask other than plain causal): a rank's
// documents are whole on it, so the local result is the same, only not rebalanced.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "layers/attention/core_attention_executor.h"
#include "parallel/cad/planner.h"
#include "parallel/cad/routes.h"
#include "parallel/comm/communicator.h"

namespace attn::cad {

struct CadOptions {
  PlannerOptions planner;  // bytes are set from the tensors' shapes
  // Stateless servers: the backward sends Q, K/V, O and lse again instead of servers keeping
  // them between forward and backward.
  bool resend = false;
  // Replaces plan_attention (tests inject a planner that disagrees on one rank).
  std::function<Plan(const WorkerLayout&, const PlannerOptions&)> planner_fn;
};

// What the executor moved and kept, since construction.
struct CadCounters {
  int64_t sent_bytes = 0, received_bytes = 0;  // payload to and from other ranks
  int64_t exchanges = 0;                       // all-to-all-v calls
  int64_t retained_bytes = 0;                  // held by stateful servers for backward, now
  int64_t plans = 0;                           // batches planned
  int64_t distributed_calls = 0, local_calls = 0;
  double server_s = 0;    // seconds in this rank's packed core-attention calls (fwd + bwd)
  double exchange_s = 0;  // seconds in the all-to-all-v calls (waiting for the slowest included)
};

class CadExecutor final : public CoreAttentionExecutor {
 public:
  CadExecutor(Communicator& comm, CadOptions options);
  ~CadExecutor() override;

  PendingCoreAttention start(int layer, const Tensor& q, const Tensor& k, const Tensor& v,
                             const Tensor& cu_seqlens_q, const Tensor& cu_seqlens_k,
                             const Tensor& sink, const CoreAttentionOptions& options) override;

  // The last plan's moves, tasks and imbalance (planned and as packed, max / mean of causal
  // pairs per server), the bytes sent to other ranks so far, and since the previous call the
  // measured imbalance of the servers' attention time and the slowest rank's exchange time
  // (gathered from every rank: a collective).
  std::map<std::string, double> metrics() override;

  const CadCounters& counters() const { return *counters_; }
  // The plan of the last distributed call (empty before it).
  const Plan& last_plan() const { return plan_; }

 private:
  struct Batch;
  void plan_batch(const std::vector<int32_t>& cu);

  Communicator& comm_;
  CadOptions options_;
  std::shared_ptr<CadCounters> counters_;
  std::vector<int64_t> lengths_;     // all ranks' document lengths of the planned batch
  std::vector<int64_t> doc_offset_;  // [world + 1] first global document of each rank
  ByteCosts bytes_;                  // of the current call
  int64_t align_ = 1;                // cuts on the kernel's query tiles
  ByteCosts planned_bytes_;          // bytes_ and align_ when plan_ was made
  int64_t planned_align_ = 0;
  Plan plan_;
  double packed_imbalance_ = 1;  // max / mean of the servers' pairs before any move
  std::vector<double> last_server_s_, last_exchange_s_;  // every rank's, at the last metrics()
  std::shared_ptr<const Routes> routes_;
};

}  // namespace attn::cad
