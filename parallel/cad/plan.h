// Core attention disaggregation (SPEC-cad): the batch's worker layout and a plan of core-attention
// tasks over attention servers. Pure data and arithmetic, no communication: every rank computes
// the same plan from the same batch description (planner.h), and the simulator reuses it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace attn::cad {

// Causal query-key pairs of query rows [q_begin, q_end) of one document (row i sees keys
// [0, i]): sum over the rows of (i + 1). Exact in int64 for documents below 4e9 tokens.
int64_t causal_pairs(int64_t q_begin, int64_t q_end);

// Where a batch's tokens live: documents fill each rank's budget of ceil(total / ranks) tokens
// in batch order, and a document crossing a rank boundary is cut there, so its rows (and K/V)
// may live on several home ranks.
class WorkerLayout {
 public:
  WorkerLayout(std::vector<int64_t> doc_lengths, int ranks);

  int ranks() const { return ranks_; }
  int docs() const { return static_cast<int>(lengths_.size()); }
  int64_t length(int doc) const { return lengths_[doc]; }
  int64_t tokens_per_rank() const { return per_rank_; }
  int64_t total_tokens() const { return starts_.back(); }
  // Rows [begin, end) of `doc` (document coordinates) that live on `rank`; empty when none.
  std::pair<int64_t, int64_t> home_range(int doc, int rank) const;
  // The ranks holding some rows of `doc`, first to last.
  std::pair<int, int> home_ranks(int doc) const;

 private:
  std::vector<int64_t> lengths_;
  std::vector<int64_t> starts_;  // [docs + 1] prefix sums
  int ranks_;
  int64_t per_rank_;
};

// One core-attention task: query rows [q_begin, q_end) of document `doc` with the whole causal
// K/V prefix [0, q_end) (kv_end == q_end), run on `server`. The rows' home is `home`: it sends Q
// and receives O. K/V is never split, so every output row is computed from its full context on
// exactly one server.
struct Task {
  int32_t doc = 0;
  int64_t q_begin = 0, q_end = 0;
  int32_t server = 0;
  int32_t home = 0;
  int64_t kv_end() const { return q_end; }
  int64_t rows() const { return q_end - q_begin; }
  int64_t pairs() const { return causal_pairs(q_begin, q_end); }
  bool operator==(const Task&) const = default;
};

// The unplanned layout: every document's rows on their home rank(s), in document order (the
// planner's starting point, and packing's attention).
std::vector<Task> home_tasks(const WorkerLayout& layout);

// Bytes per token moved for one layer's forward: Q to the server, K and V of the prefix, O back.
struct ByteCosts {
  int64_t q = 0, kv = 0, o = 0;
};

// What a plan moves per rank for one layer's forward: Q and the K/V prefix not already on the
// server (each token's K/V sent at most once per (document, server), from its home rank), and O
// back to the rows' home.
struct Traffic {
  std::vector<int64_t> send, recv;  // [ranks] bytes
  int64_t max_per_rank() const;     // the largest send or receive volume of any rank
};
Traffic plan_traffic(const WorkerLayout& layout, const std::vector<Task>& tasks,
                     const ByteCosts& bytes);

// Every transfer of one layer's forward, once: kind 'q' (a moved slice's Q, home -> server),
// 'o' (its O back, server -> home) and 'k' (K/V prefix rows, their home -> the server), with the
// bytes. plan_traffic sums them per rank; the simulator keeps them per pair of ranks.
void for_each_transfer(const WorkerLayout& layout, const std::vector<Task>& tasks,
                       const ByteCosts& bytes,
                       const std::function<void(char kind, int src, int dst, int64_t bytes)>& f);

struct Plan {
  int servers = 0;
  std::vector<Task> tasks;    // ordered by (server, doc, q_begin)
  std::vector<int64_t> load;  // [servers] cost units (causal pairs, or the cost model's)
  Traffic traffic;
  double eps = 0;              // the tolerance the plan was made for (after the buffer ladder)
  bool balanced = false;       // max <= (1 + eps) mean and min >= (1 - eps) mean
  std::string unbalanced_why;  // when not: which bound fails and why no move could fix it
  int moves = 0;               // greedy moves made

  // max / mean of the load (1 for an empty batch).
  double imbalance() const;
  // FNV-1a 64 over the integer fields (servers, every task), in order: equal plans hash equal on
  // every machine, so ranks can check they agree with one all-reduce.
  uint64_t hash() const;
};

// The plan's checks that need no planner: every query row of every document in exactly one
// task, slices inside their documents, servers and homes in range, the order above. Throws
// attn::Error(kInput) naming the first violation (a decoded plan from the wire must pass).
void check_plan(const WorkerLayout& layout, const Plan& plan);

}  // namespace attn::cad
