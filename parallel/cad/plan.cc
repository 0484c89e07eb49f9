#include "parallel/cad/plan.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "framework/core/error.h"

namespace attn::cad {

int64_t causal_pairs(int64_t q_begin, int64_t q_end) {
  // sum_{i=b}^{e-1} (i + 1) = (e (e + 1) - b (b + 1)) / 2, one factor halved first so the
  // products stay in range.
  auto tri = [](int64_t n) { return n % 2 == 0 ? (n / 2) * (n + 1) : n * ((n + 1) / 2); };
  return tri(q_end) - tri(q_begin);
}

WorkerLayout::WorkerLayout(std::vector<int64_t> doc_lengths, int ranks)
    : lengths_(std::move(doc_lengths)), ranks_(ranks) {
  if (ranks < 1) ATTN_FAIL(kInput, "CAD layout: {} ranks", ranks);
  starts_.assign(1, 0);
  for (size_t d = 0; d < lengths_.size(); ++d) {
    if (lengths_[d] < 1) ATTN_FAIL(kInput, "CAD layout: document {} has length {}", d, lengths_[d]);
    starts_.push_back(starts_.back() + lengths_[d]);
  }
  per_rank_ = std::max<int64_t>(1, (starts_.back() + ranks - 1) / ranks);
}

std::pair<int64_t, int64_t> WorkerLayout::home_range(int doc, int rank) const {
  const int64_t b = std::max(starts_[doc], rank * per_rank_);
  const int64_t e = std::min(starts_[doc + 1], (rank + 1) * per_rank_);
  if (b >= e) return {0, 0};
  return {b - starts_[doc], e - starts_[doc]};
}

std::pair<int, int> WorkerLayout::home_ranks(int doc) const {
  return {static_cast<int>(starts_[doc] / per_rank_),
          static_cast<int>((starts_[doc + 1] - 1) / per_rank_)};
}

std::vector<Task> home_tasks(const WorkerLayout& layout) {
  std::vector<Task> tasks;
  for (int d = 0; d < layout.docs(); ++d) {
    const auto [first, last] = layout.home_ranks(d);
    for (int r = first; r <= last; ++r) {
      const auto [b, e] = layout.home_range(d, r);
      if (b < e) tasks.push_back({d, b, e, r, r});
    }
  }
  return tasks;
}

int64_t Traffic::max_per_rank() const {
  int64_t m = 0;
  for (int64_t v : send) m = std::max(m, v);
  for (int64_t v : recv) m = std::max(m, v);
  return m;
}

void for_each_transfer(const WorkerLayout& layout, const std::vector<Task>& tasks,
                       const ByteCosts& bytes,
                       const std::function<void(char kind, int src, int dst, int64_t bytes)>& f) {
  // The longest prefix each server needs of each document.
  std::map<std::pair<int, int>, int64_t> prefix;  // (doc, server) -> kv_end
  for (const Task& k : tasks) {
    if (k.server != k.home) {
      f('q', k.home, k.server, bytes.q * k.rows());
      f('o', k.server, k.home, bytes.o * k.rows());
    }
    int64_t& kv = prefix[{k.doc, k.server}];
    kv = std::max(kv, k.kv_end());
  }
  for (const auto& [key, kv_end] : prefix) {
    const auto [doc, server] = key;
    const auto [first, last] = layout.home_ranks(doc);
    for (int r = first; r <= last; ++r) {
      if (r == server) continue;
      const auto [b, e] = layout.home_range(doc, r);
      const int64_t n = std::max<int64_t>(0, std::min(e, kv_end) - b);
      if (n > 0) f('k', r, server, bytes.kv * n);
    }
  }
}

Traffic plan_traffic(const WorkerLayout& layout, const std::vector<Task>& tasks,
                     const ByteCosts& bytes) {
  Traffic t;
  t.send.assign(layout.ranks(), 0);
  t.recv.assign(layout.ranks(), 0);
  for_each_transfer(layout, tasks, bytes, [&](char, int src, int dst, int64_t n) {
    t.send[src] += n;
    t.recv[dst] += n;
  });
  return t;
}

double Plan::imbalance() const {
  int64_t total = 0, most = 0;
  for (int64_t l : load) {
    total += l;
    most = std::max(most, l);
  }
  if (total == 0) return 1.0;
  return static_cast<double>(most) * static_cast<double>(load.size()) / static_cast<double>(total);
}

uint64_t Plan::hash() const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  mix(static_cast<uint64_t>(servers));
  mix(tasks.size());
  for (const Task& t : tasks) {
    mix(static_cast<uint64_t>(t.doc));
    mix(static_cast<uint64_t>(t.q_begin));
    mix(static_cast<uint64_t>(t.q_end));
    mix(static_cast<uint64_t>(t.server));
    mix(static_cast<uint64_t>(t.home));
  }
  return h;
}

void check_plan(const WorkerLayout& layout, const Plan& plan) {
  auto bad = [](const std::string& what) { throw Error(ErrorKind::kInput, "CAD plan", what); };
  if (plan.servers != layout.ranks())
    bad(fmt::format("{} servers for a layout of {} ranks", plan.servers, layout.ranks()));
  // Per document, the rows covered so far in q order (tasks of one document may sit anywhere in
  // the server order, so collect and sort).
  std::vector<std::vector<std::pair<int64_t, int64_t>>> rows(layout.docs());
  for (size_t i = 0; i < plan.tasks.size(); ++i) {
    const Task& t = plan.tasks[i];
    const std::string at = fmt::format("task {}", i);
    if (t.doc < 0 || t.doc >= layout.docs())
      bad(fmt::format("{}: document {} of {}", at, t.doc, layout.docs()));
    if (t.server < 0 || t.server >= plan.servers || t.home < 0 || t.home >= plan.servers)
      bad(fmt::format("{}: server {} / home {} outside [0, {})", at, t.server, t.home,
                      plan.servers));
    if (t.q_begin < 0 || t.q_begin >= t.q_end || t.q_end > layout.length(t.doc))
      bad(fmt::format("{}: rows [{}, {}) of a document of {}", at, t.q_begin, t.q_end,
                      layout.length(t.doc)));
    const auto [hb, he] = layout.home_range(t.doc, t.home);
    if (t.q_begin < hb || t.q_end > he)
      bad(fmt::format("{}: rows [{}, {}) do not live on home rank {} (it holds [{}, {}))", at,
                      t.q_begin, t.q_end, t.home, hb, he));
    if (i > 0) {
      const Task& p = plan.tasks[i - 1];
      if (std::tie(p.server, p.doc, p.q_begin) >= std::tie(t.server, t.doc, t.q_begin))
        bad(fmt::format("{}: not ordered by (server, document, first row)", at));
    }
    rows[t.doc].push_back({t.q_begin, t.q_end});
  }
  for (int d = 0; d < layout.docs(); ++d) {
    std::sort(rows[d].begin(), rows[d].end());
    int64_t next = 0;
    for (const auto& [b, e] : rows[d]) {
      if (b != next)
        bad(fmt::format("document {}: rows [{}, {}) {}", d, std::min(b, next), std::max(b, next),
                        b > next ? "in no task" : "in two tasks"));
      next = e;
    }
    if (next != layout.length(d))
      bad(fmt::format("document {}: rows [{}, {}) in no task", d, next, layout.length(d)));
  }
}

}  // namespace attn::cad
