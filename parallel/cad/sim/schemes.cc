#include "parallel/cad/sim/schemes.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "framework/core/error.h"
#include "parallel/cad/sim/timeline.h"

namespace attn::cad::sim {

namespace {

// What one rank did over a step; the scheme turns these into a SchemeResult.
struct RankTotals {
  std::vector<double> time, time_free, attention, busy, memory;
  explicit RankTotals(int ranks)
      : time(ranks), time_free(ranks), attention(ranks), busy(ranks), memory(ranks) {}
};

void check_batch(const SimSetup& s, const Batch& batch) {
  if (s.ranks < 1 || s.tokens_per_rank < 1)
    ATTN_FAIL(kInput, "cad-sim: {} ranks of {} tokens", s.ranks, s.tokens_per_rank);
  for (size_t m = 0; m < batch.size(); ++m) {
    const int64_t total = std::accumulate(batch[m].begin(), batch[m].end(), int64_t{0});
    if (total != s.ranks * s.tokens_per_rank)
      ATTN_FAIL(kInput, "cad-sim: micro-batch {} holds {} tokens, not {} ranks x {}", m, total,
                s.ranks, s.tokens_per_rank);
  }
}

double max_of(const std::vector<double>& v) {
  return *std::max_element(v.begin(), v.end());
}
double mean_of(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

SchemeResult summarise(std::string name, const RankTotals& t, int64_t tokens) {
  SchemeResult r;
  r.scheme = std::move(name);
  r.step_s = max_of(t.time);
  r.compute_only_s = max_of(t.time_free);
  r.attention_max_s = max_of(t.attention);
  r.attention_mean_s = mean_of(t.attention);
  r.busy_mean_s = mean_of(t.busy);
  r.memory_max_bytes = max_of(t.memory);
  r.memory_mean_bytes = mean_of(t.memory);
  r.tokens = tokens;
  return r;
}

// One rank's forward + backward over all layers when nothing waits for another rank.
struct LocalWork {
  double linear = 0, attention = 0;
};
LocalWork local_work(const Costs& c, int64_t tokens, const std::vector<Task>& tasks) {
  const int L = c.model().layers;
  LocalWork w;
  for (Pass p : {Pass::kForward, Pass::kBackward}) {
    w.linear += L * (c.pre_s(tokens, p) + c.post_s(tokens, p));
    w.attention += L * c.server_s(tasks, p);
  }
  return w;
}

// Ranks that each run their own documents (packing, wlb): time adds up per rank until the step's
// end.
void add_local(const Costs& c, RankTotals& t, int r, int64_t tokens,
               const std::vector<Task>& tasks) {
  const LocalWork w = local_work(c, tokens, tasks);
  t.time[r] += w.linear + w.attention;
  t.time_free[r] += w.linear + w.attention;
  t.attention[r] += w.attention;
  t.busy[r] += w.linear + w.attention;
  t.memory[r] = std::max(t.memory[r], c.state_bytes() + tokens * c.activation_bytes_per_token());
}

// The home tasks of a layout (plan.h), by rank.
std::vector<std::vector<Task>> home_tasks_by_rank(const WorkerLayout& layout) {
  std::vector<std::vector<Task>> per_rank(layout.ranks());
  for (const Task& t : home_tasks(layout)) per_rank[t.home].push_back(t);
  return per_rank;
}

int64_t rows_of(const std::vector<Task>& tasks) {
  int64_t n = 0;
  for (const Task& k : tasks) n += k.rows();
  return n;
}

ByteMatrix zeros(int n) {
  return ByteMatrix(n, std::vector<int64_t>(n, 0));
}

ByteMatrix transpose(const ByteMatrix& m) {
  ByteMatrix t = zeros(static_cast<int>(m.size()));
  for (size_t i = 0; i < m.size(); ++i)
    for (size_t j = 0; j < m.size(); ++j) t[j][i] = m[i][j];
  return t;
}

// One half (or a whole) micro-batch under CAD: its plan's stages per pass and what each server
// did and holds.
struct CadHalf {
  LayerStages fwd, bwd, fwd_free, bwd_free;
  std::vector<double> attention;  // [servers] fwd + bwd of one layer
  std::vector<double> linear;     // [ranks] fwd + bwd of one layer
  std::vector<double> retained;   // [servers] bytes kept for backward, one layer (stateful)
  std::vector<int64_t> tokens;    // [ranks] worker tokens
  double planner_s = 0;

  // A half with no documents (a micro-batch of one document has nothing for pong).
  static CadHalf empty(int ranks) {
    CadHalf h;
    h.attention.assign(ranks, 0);
    h.linear.assign(ranks, 0);
    h.retained.assign(ranks, 0);
    h.tokens.assign(ranks, 0);
    return h;
  }
};

CadHalf cad_half(const Costs& c, const Network& net, const SimSetup& s,
                 const std::vector<int64_t>& lengths) {
  const WorkerLayout layout(lengths, s.ranks);
  PlannerOptions o = s.planner;
  o.bytes = c.bytes();
  const auto t0 = std::chrono::steady_clock::now();
  const Plan plan = plan_attention(layout, o);
  CadHalf h;
  h.planner_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::vector<std::vector<Task>> on_server(s.ranks);
  for (const Task& k : plan.tasks) on_server[k.server].push_back(k);
  h.tokens.assign(s.ranks, 0);
  for (const std::vector<Task>& home : home_tasks_by_rank(layout))
    if (!home.empty()) h.tokens[home.front().home] = rows_of(home);

  const PlanExchange x = plan_exchange(layout, plan.tasks, o.bytes);
  ByteMatrix dq_dkv = transpose(x.q_kv);  // dQ to the rows' home, dK/dV to the K/V's home

  h.attention.assign(s.ranks, 0);
  h.linear.assign(s.ranks, 0);
  h.retained.assign(s.ranks, 0);
  double attn_f = 0, attn_b = 0, pre_f = 0, post_f = 0, pre_b = 0, post_b = 0;
  for (int r = 0; r < s.ranks; ++r) {
    const double af = c.server_s(on_server[r], Pass::kForward);
    const double ab = c.server_s(on_server[r], Pass::kBackward);
    attn_f = std::max(attn_f, af);
    attn_b = std::max(attn_b, ab);
    h.attention[r] = af + ab;
    pre_f = std::max(pre_f, c.pre_s(h.tokens[r], Pass::kForward));
    post_f = std::max(post_f, c.post_s(h.tokens[r], Pass::kForward));
    pre_b = std::max(pre_b, c.pre_s(h.tokens[r], Pass::kBackward));
    post_b = std::max(post_b, c.post_s(h.tokens[r], Pass::kBackward));
    h.linear[r] = c.pre_s(h.tokens[r], Pass::kForward) + c.post_s(h.tokens[r], Pass::kForward) +
                  c.pre_s(h.tokens[r], Pass::kBackward) + c.post_s(h.tokens[r], Pass::kBackward);
    // Stateful servers keep the Q, K/V they received and the O they computed for other ranks.
    for (int src = 0; src < s.ranks; ++src)
      h.retained[r] += static_cast<double>(x.q_kv[src][r] + x.o[r][src]);
  }
  h.fwd = {pre_f, net.all_to_all_s(x.q_kv), attn_f, net.all_to_all_s(x.o), post_f};
  // Backward: the MLP and O projection first, dO out (O's pattern), dQ/dK/dV back, Q/K/V last.
  h.bwd = {post_b, net.all_to_all_s(transpose(x.o)), attn_b, net.all_to_all_s(dq_dkv), pre_b};
  h.fwd_free = {pre_f, 0, attn_f, 0, post_f};
  h.bwd_free = {post_b, 0, attn_b, 0, pre_b};
  return h;
}

}  // namespace

PlanExchange plan_exchange(const WorkerLayout& layout, const std::vector<Task>& tasks,
                           const ByteCosts& bytes) {
  const int n = layout.ranks();
  PlanExchange x{zeros(n), zeros(n)};
  for_each_transfer(layout, tasks, bytes, [&](char kind, int src, int dst, int64_t b) {
    (kind == 'o' ? x.o : x.q_kv)[src][dst] += b;
  });
  return x;
}

SchemeResult simulate_packing(const Costs& c, const Network&, const SimSetup& s,
                              const Batch& batch) {
  check_batch(s, batch);
  RankTotals t(s.ranks);
  for (const std::vector<int64_t>& lengths : batch) {
    const std::vector<std::vector<Task>> tasks = home_tasks_by_rank(WorkerLayout(lengths, s.ranks));
    for (int r = 0; r < s.ranks; ++r) add_local(c, t, r, rows_of(tasks[r]), tasks[r]);
  }
  return summarise("packing", t, s.ranks * s.tokens_per_rank * static_cast<int64_t>(batch.size()));
}

std::vector<int> wlb_buckets(const std::vector<int64_t>& lengths, int ranks, int64_t cap_tokens) {
  std::vector<int> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return lengths[a] > lengths[b]; });
  std::vector<double> work(ranks, 0);
  std::vector<int64_t> tokens(ranks, 0);
  std::vector<int> bucket(lengths.size(), 0);
  for (int d : order) {
    const double x = static_cast<double>(lengths[d]) / 131072.0;
    int best = -1;
    for (int r = 0; r < ranks; ++r) {
      if (tokens[r] + lengths[d] > cap_tokens) continue;
      if (best < 0 || work[r] < work[best]) best = r;
    }
    // Nothing fits under the cap: the bucket with the fewest tokens takes it (WLB would defer
    // the document to a later step, which a one-step simulation cannot).
    if (best < 0)
      best = static_cast<int>(std::min_element(tokens.begin(), tokens.end()) - tokens.begin());
    bucket[d] = best;
    work[best] += x * x + x;
    tokens[best] += lengths[d];
  }
  return bucket;
}

SchemeResult simulate_wlb(const Costs& c, const Network&, const SimSetup& s, const Batch& batch) {
  check_batch(s, batch);
  RankTotals t(s.ranks);
  for (const std::vector<int64_t>& lengths : batch) {
    const std::vector<int> bucket = wlb_buckets(lengths, s.ranks, 2 * s.tokens_per_rank);
    std::vector<std::vector<Task>> tasks(s.ranks);
    for (size_t d = 0; d < lengths.size(); ++d)
      tasks[bucket[d]].push_back({static_cast<int32_t>(d), 0, lengths[d], bucket[d], bucket[d]});
    for (int r = 0; r < s.ranks; ++r) add_local(c, t, r, rows_of(tasks[r]), tasks[r]);
  }
  return summarise("wlb", t, s.ranks * s.tokens_per_rank * static_cast<int64_t>(batch.size()));
}

SchemeResult simulate_context_parallel(const Costs& c, const Network& net, const SimSetup& s,
                                       const Batch& batch, int cp) {
  check_batch(s, batch);
  if (cp < 1 || s.ranks % cp)
    ATTN_FAIL(kInput, "cad-sim: context parallelism {} must divide {} ranks", cp, s.ranks);
  const int groups = s.ranks / cp, L = c.model().layers;
  const int64_t kv_bytes = c.bytes().kv;
  RankTotals t(s.ranks);
  for (const std::vector<int64_t>& lengths : batch) {
    const WorkerLayout layout(lengths, groups);
    const std::vector<std::vector<Task>> pieces = home_tasks_by_rank(layout);
    for (int g = 0; g < groups; ++g) {
      std::vector<std::vector<Task>> tasks(cp);
      for (const Task& p : pieces[g]) {
        const int64_t n = p.rows();
        for (int i = 0; i < 2 * cp; ++i) {
          const int64_t b = p.q_begin + n * i / (2 * cp), e = p.q_begin + n * (i + 1) / (2 * cp);
          if (b < e) tasks[i < cp ? i : 2 * cp - 1 - i].push_back({p.doc, b, e, 0, 0});
        }
      }
      // Per layer the all-gather (forward) and reduce-scatter (backward) of K/V synchronise the
      // group; between them each rank runs its own attention and linear layers.
      int64_t most_tokens = 0, group_tokens = 0;
      double fwd = 0, bwd = 0;
      std::vector<LocalWork> work(cp);
      for (int j = 0; j < cp; ++j) {
        const int64_t tokens = rows_of(tasks[j]);
        most_tokens = std::max(most_tokens, tokens);
        group_tokens += tokens;
        for (Pass p : {Pass::kForward, Pass::kBackward}) {
          const double w = c.pre_s(tokens, p) + c.post_s(tokens, p) + c.server_s(tasks[j], p);
          (p == Pass::kForward ? fwd : bwd) = std::max(p == Pass::kForward ? fwd : bwd, w);
        }
        work[j] = local_work(c, tokens, tasks[j]);
      }
      const double gather = net.ring_all_gather_s(g * cp, cp, most_tokens * kv_bytes);
      for (int j = 0; j < cp; ++j) {
        const int r = g * cp + j;
        t.time[r] += L * (fwd + bwd + 2 * gather);
        t.time_free[r] += L * (fwd + bwd);
        t.attention[r] += work[j].attention;
        t.busy[r] += work[j].linear + work[j].attention;
        // The gathered K/V of the whole group's tokens, one layer at a time.
        const double gathered = static_cast<double>(group_tokens * kv_bytes) / c.tp();
        t.memory[r] = std::max(
            t.memory[r],
            c.state_bytes() + rows_of(tasks[j]) * c.activation_bytes_per_token() + gathered);
      }
    }
  }
  SchemeResult r =
      summarise("cp", t, s.ranks * s.tokens_per_rank * static_cast<int64_t>(batch.size()));
  r.cp = cp;
  return r;
}

SchemeResult simulate_cad(const Costs& c, const Network& net, const SimSetup& s, const Batch& batch,
                          bool ping_pong) {
  check_batch(s, batch);
  const int L = c.model().layers;
  RankTotals t(s.ranks);
  double planner_max = 0;
  for (const std::vector<int64_t>& lengths : batch) {
    std::vector<CadHalf> halves;
    if (!ping_pong) {
      halves.push_back(cad_half(c, net, s, lengths));
    } else {
      // Two halves of (nearly) equal tokens made of whole documents, each to the half with
      // fewer tokens so far, each laid out over every rank: a document the layout cuts at a
      // rank boundary keeps its full context (its K/V prefix travels, and is charged).
      std::vector<int64_t> a, b;
      int64_t in_a = 0, in_b = 0;
      for (int64_t l : lengths) {
        const bool to_a = in_a <= in_b;
        (to_a ? a : b).push_back(l);
        (to_a ? in_a : in_b) += l;
      }
      halves.push_back(cad_half(c, net, s, a));
      if (!b.empty()) halves.push_back(cad_half(c, net, s, b));
    }
    double step = 0, free = 0;
    if (!ping_pong) {
      const CadHalf& h = halves[0];
      step = sequential_pass_s(h.fwd, L) + sequential_pass_s(h.bwd, L);
      free = sequential_pass_s(h.fwd_free, L) + sequential_pass_s(h.bwd_free, L);
    } else {
      const CadHalf& a = halves[0];
      const CadHalf& b = halves.size() > 1 ? halves[1] : CadHalf::empty(s.ranks);
      step = ping_pong_pass_s(a.fwd, b.fwd, L) + ping_pong_pass_s(a.bwd, b.bwd, L);
      free =
          ping_pong_pass_s(a.fwd_free, b.fwd_free, L) + ping_pong_pass_s(a.bwd_free, b.bwd_free, L);
    }
    for (int r = 0; r < s.ranks; ++r) {
      double attention = 0, linear = 0, retained = 0;
      int64_t tokens = 0;
      for (const CadHalf& h : halves) {
        attention += L * h.attention[r];
        linear += L * h.linear[r];
        retained += L * h.retained[r];
        tokens += h.tokens[r];
      }
      t.time[r] += step;
      t.time_free[r] += free;
      t.attention[r] += attention;
      t.busy[r] += attention + linear;
      t.memory[r] =
          std::max(t.memory[r],
                   c.state_bytes() + tokens * c.activation_bytes_per_token() + retained / c.tp());
    }
    for (const CadHalf& h : halves) planner_max = std::max(planner_max, h.planner_s);
  }
  SchemeResult r = summarise(ping_pong ? "cad+pingpong" : "cad", t,
                             s.ranks * s.tokens_per_rank * static_cast<int64_t>(batch.size()));
  r.planner_max_s = planner_max;
  return r;
}

}  // namespace attn::cad::sim
