#include "parallel/cad/routes.h"

#include <algorithm>

namespace attn::cad {

int64_t Routes::rows(const std::vector<RowRun>& runs) {
  int64_t n = 0;
  for (const RowRun& r : runs) n += r.rows();
  return n;
}

Routes routes_for(const WorkerLayout& layout, const Plan& plan, int me) {
  const int n = layout.ranks();
  Routes r;
  r.me = me;
  r.q_to.resize(n);
  r.kv_to.resize(n);
  r.q_from.resize(n);
  r.kv_from.resize(n);
  // Tasks are ordered by (server, doc, q_begin), so a server's tasks of one document are
  // adjacent and the last of them reaches furthest: its q_end is the prefix the server needs.
  for (size_t i = 0; i < plan.tasks.size(); ++i) {
    const Task& t = plan.tasks[i];
    if (t.home == me) r.q_to[t.server].push_back({t.doc, t.q_begin, t.q_end});
    if (t.server == me) {
      r.tasks.push_back(t);
      r.q_from[t.home].push_back({t.doc, t.q_begin, t.q_end});
    }
    const bool last_of_doc = i + 1 == plan.tasks.size() || plan.tasks[i + 1].server != t.server ||
                             plan.tasks[i + 1].doc != t.doc;
    if (!last_of_doc) continue;
    const auto [first, last] = layout.home_ranks(t.doc);
    for (int h = first; h <= last; ++h) {
      const auto [b, e] = layout.home_range(t.doc, h);
      const int64_t end = std::min(e, t.kv_end());
      if (b >= end) continue;
      if (h == me) r.kv_to[t.server].push_back({t.doc, b, end});
      if (t.server == me) r.kv_from[h].push_back({t.doc, b, end});
    }
  }
  return r;
}

}  // namespace attn::cad
