// Which rows one rank moves in a CAD layer under a plan (SPEC-cad "Data movement"), in the order
// both ends of every exchange use, so buffers need no headers: the sender and the receiver derive
// the same lists from the same plan.
#pragma once

#include <cstdint>
#include <vector>

#include "parallel/cad/plan.h"

namespace attn::cad {

// Rows [begin, end) of one document, in document coordinates.
struct RowRun {
  int32_t doc = 0;
  int64_t begin = 0, end = 0;
  int64_t rows() const { return end - begin; }
};

struct Routes {
  int me = 0;
  // As a worker (home): to each server, the Q rows of my rows' tasks there in plan order, and
  // the K/V of my rows that its tasks' prefixes need, once per (document, server), by document.
  std::vector<std::vector<RowRun>> q_to, kv_to;  // [server]
  // As a server: from each home, the lists that home has in q_to[me] and kv_to[me].
  std::vector<std::vector<RowRun>> q_from, kv_from;  // [home]
  std::vector<Task> tasks;                           // the tasks this rank serves, in plan order

  static int64_t rows(const std::vector<RowRun>& runs);
};

// Includes the rank's own entries (peer == me): they take the same path, without the network.
Routes routes_for(const WorkerLayout& layout, const Plan& plan, int me);

}  // namespace attn::cad
