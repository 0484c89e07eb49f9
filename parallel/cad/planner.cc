#include "parallel/cad/planner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <tuple>

#include <fmt/format.h>

#include "framework/core/error.h"

namespace attn::cad {

namespace {

using i128 = __int128;

// Receivers a relief move considers: the least loaded servers.
constexpr size_t kReliefReceivers = 16;

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

struct Move {
  int task = -1;
  int receiver = -1;
  int64_t begin = 0, end = 0;  // the rows that move
  int64_t gain = 0, loss = 0;  // receiver's load up, donor's load down
  int64_t bytes = 0;
  int shape = 0;
};

class Greedy {
 public:
  Greedy(const WorkerLayout& layout, const PlannerOptions& o, double eps)
      : l_(layout),
        o_(o),
        servers_(layout.ranks()),
        pairs_only_(o.cost.per_pair == 1 && o.cost.per_row == 0 && o.cost.per_task == 0) {
    load_.assign(servers_, 0);
    by_doc_.resize(layout.docs());
    by_server_.resize(servers_);
    floor_.assign(servers_, {kNever, kNever});
    exhausted_.assign(servers_, 0);
    // Each document's rows start on their home ranks.
    for (const Task& t : home_tasks(layout)) {
      add(t);
      load_[t.server] += cost(t.q_begin, t.q_end);
    }
    total_ = std::accumulate(load_.begin(), load_.end(), int64_t{0});
    excess_.resize(servers_);
    for (int s = 0; s < servers_; ++s) {
      set_excess(s);
      refloor(s);
    }
    const long double mean = static_cast<long double>(total_) / servers_;
    upper_ = static_cast<int64_t>(std::floor((1.0L + eps) * mean));
    lower_ = static_cast<int64_t>(std::ceil((1.0L - eps) * mean));
  }

  bool balanced() const {
    const auto [lo, hi] = std::minmax_element(load_.begin(), load_.end());
    return *hi <= upper_ && *lo >= lower_;
  }

  int run() {
    int moves = 0;
    // Phase 1 found nothing: a relief move only shrinks deficits and surpluses, so phase 1
    // stays stuck until a relief receiver itself ends above the mean.
    bool stuck = false;
    while (!balanced()) {
      if (!stuck) {
        if (fill_deficits(moves)) continue;
        stuck = true;
      }
      // Every deficit is smaller than the smallest slice a donor could cut: let the busiest
      // server shed work to one with headroom (a receiver may pass the mean), so the maximum
      // still comes down.
      const std::optional<Move> m = relieve_busiest();
      if (!m) break;
      apply(*m);
      ++moves;
      if (surplus(m->receiver) > 0) {
        stuck = false;
        std::fill(exhausted_.begin(), exhausted_.end(), 0);
      }
    }
    return moves;
  }

  // The tasks merged where adjacent (same server, document and home), in plan order.
  std::vector<Task> tasks() const {
    std::vector<Task> t = tasks_;
    std::sort(t.begin(), t.end(), [](const Task& a, const Task& b) {
      return std::tie(a.server, a.doc, a.q_begin) < std::tie(b.server, b.doc, b.q_begin);
    });
    std::vector<Task> merged;
    for (const Task& k : t) {
      if (!merged.empty()) {
        Task& p = merged.back();
        if (p.server == k.server && p.doc == k.doc && p.home == k.home && p.q_end == k.q_begin) {
          p.q_end = k.q_end;
          continue;
        }
      }
      merged.push_back(k);
    }
    return merged;
  }

  // One pass over the servers below the mean, largest deficit first, each taking the best moves
  // from the servers above it until its deficit is filled or nothing fits. True if anything
  // moved.
  bool fill_deficits(int& moves) {
    std::vector<int> receivers;
    for (int s = 0; s < servers_; ++s)
      if (deficit(s) > 0 && !exhausted_[s]) receivers.push_back(s);
    std::sort(receivers.begin(), receivers.end(), [&](int a, int b) {
      return std::make_pair(-deficit(a), a) < std::make_pair(-deficit(b), b);
    });
    bool moved = false;
    // The largest deficit that found no move since the last move: whether a move fits depends
    // only on the deficit and the donors' surpluses, so a deficit no larger finds none either,
    // without a scan (most receivers late in the greedy).
    int64_t unfit = 0;
    for (int r : receivers) {
      while (deficit(r) > 0) {
        std::optional<Move> m;
        if (deficit(r) > unfit)
          m = best_move(
              r, deficit(r), [&](int s) { return surplus(s); }, std::nullopt);
        if (!m) {
          // Deficits and surpluses only shrink from here, so nothing will fit it later either
          // (until a relief move makes a new donor).
          exhausted_[r] = 1;
          unfit = std::max(unfit, deficit(r));
          break;
        }
        apply(*m);
        unfit = 0;
        ++moves;
        moved = true;
        if (balanced()) return true;
      }
    }
    return moved;
  }

  std::optional<Move> relieve_busiest() const {
    const int d = static_cast<int>(std::max_element(load_.begin(), load_.end()) - load_.begin());
    const int64_t shed = load_[d] - lower_;
    if (shed <= 0) return std::nullopt;
    // The least loaded servers only (ties by id): relief is the rare case, and the busiest
    // server's few tasks against every server would dominate the planner's time at 512.
    std::vector<int> receivers(servers_);
    std::iota(receivers.begin(), receivers.end(), 0);
    const size_t n = std::min<size_t>(receivers.size(), kReliefReceivers);
    std::partial_sort(
        receivers.begin(), receivers.begin() + static_cast<std::ptrdiff_t>(n), receivers.end(),
        [&](int a, int b) { return std::make_pair(load_[a], a) < std::make_pair(load_[b], b); });
    receivers.resize(n);
    // First within the upper bound; failing that, any receiver that ends below the donor's
    // current load (the maximum still falls: the stop rule is "no move improves it").
    for (const bool within_bound : {true, false}) {
      std::optional<Move> best;
      for (int r : receivers) {
        const int64_t headroom =
            (within_bound ? std::min(upper_, load_[d] - 1) : load_[d] - 1) - load_[r];
        if (r == d || headroom <= 0) continue;
        best = best_move(
            r, headroom, [&](int s) { return s == d ? shed : 0; }, best);
      }
      if (best) return best;
    }
    return std::nullopt;
  }

  int64_t upper() const { return upper_; }
  int64_t lower() const { return lower_; }
  int64_t total() const { return total_; }

 private:
  // The default model straight to the pair count: the binary searches call this most.
  int64_t cost(int64_t b, int64_t e) const {
    if (b >= e) return 0;
    return pairs_only_ ? causal_pairs(b, e) : o_.cost.cost(b, e);
  }

  // An upper bound on the gain per row of a slice ending by row q_end: q_end causal pairs, or
  // the cost model's per-row share with room for its double rounding (ample below 1e15);
  // unbounded for negative terms.
  int64_t row_gain(int64_t q_end) const {
    const CostModel& c = o_.cost;
    if (pairs_only_) return q_end;
    if (!(c.per_pair >= 0 && c.per_row >= 0 && c.per_task >= 0)) return kNever;
    const long double g = c.per_pair * static_cast<long double>(q_end) + c.per_row + c.per_task;
    return g < 1e15L ? static_cast<int64_t>(std::ceil(g)) + 2 : kNever;
  }

  // How far below / above the mean a server is, in whole cost units; cached, because the scans
  // read it for every donor and its 128-bit division once took a fifth of the planner's time.
  int64_t deficit(int s) const { return -excess_[s]; }
  int64_t surplus(int s) const { return excess_[s]; }
  void set_excess(int s) {
    excess_[s] = static_cast<int64_t>((i128(servers_) * load_[s] - total_) / servers_);
  }

  void add(const Task& t) {
    by_doc_[t.doc].push_back(static_cast<int>(tasks_.size()));
    by_server_[t.server].push_back(static_cast<int>(tasks_.size()));
    tasks_.push_back(t);
    smallest_.push_back(smallest_move(static_cast<int>(tasks_.size()) - 1));
  }

  // The least gain and the least loss over the smallest move of each of task i's shapes (the
  // first that shrink_to_fit tries): a task none of whose shapes can gain <= def and lose
  // <= sur yields no move, and late in the greedy almost none does (every deficit is under
  // one slice), so the scans skip those tasks, and whole donors, on two comparisons.
  std::pair<int64_t, int64_t> smallest_move(int i) const {
    const Task& t = tasks_[i];
    const int64_t n = t.rows(), qb = t.q_begin, qe = t.q_end, min = o_.min_slice;
    std::pair<int64_t, int64_t> least{kNever, kNever};
    auto take = [&](const Move& m) {
      if (m.gain <= 0 || m.loss <= 0) return;  // fits() never holds
      least = {std::min(least.first, m.gain), std::min(least.second, m.loss)};
    };
    take(sized(i, qb, qe, 0));
    if (min <= (n - min) / 2) take(sized(i, qb + (n - min) / 2, qe - (n - min) / 2, 1));
    if (o_.prefix_suffix && min <= n - min) {
      take(sized(i, qe - min, qe, 2));
      take(sized(i, qb, qb + min, 3));
    }
    return least;
  }
  void refloor(int s) {
    floor_[s] = {kNever, kNever};
    for (int i : by_server_[s])
      floor_[s] = {std::min(floor_[s].first, smallest_[i].first),
                   std::min(floor_[s].second, smallest_[i].second)};
  }
  bool out_of_reach(const std::pair<int64_t, int64_t>& least, int64_t def, int64_t sur) const {
    return least.first > def || least.second > sur;
  }

  // K/V rows of doc's prefix [0, kv_end) that server s has neither as home rows nor from a
  // task it already runs (each such task brought its whole prefix).
  int64_t missing_kv(int doc, int s, int64_t kv_end) const {
    // The shorter list: a long document is cut into many tasks, a receiver runs few.
    int64_t have = 0;
    const bool per_doc = by_doc_[doc].size() <= by_server_[s].size();
    for (int i : per_doc ? by_doc_[doc] : by_server_[s])
      if (tasks_[i].server == s && tasks_[i].doc == doc) have = std::max(have, tasks_[i].q_end);
    if (kv_end <= have) return 0;
    const auto [hb, he] = l_.home_range(doc, s);
    return kv_end - have - std::max<int64_t>(0, std::min(he, kv_end) - std::max(hb, have));
  }

  // Moving rows [b, e) of task i to r: what the receiver gains and the donor loses (the donor
  // keeps the rows before and after). Bytes are priced separately, only for the sizes chosen.
  Move sized(int i, int64_t b, int64_t e, int shape) const {
    const Task& t = tasks_[i];
    Move m;
    m.task = i;
    m.begin = b;
    m.end = e;
    m.gain = cost(b, e);
    m.shape = shape;
    // Causal pairs add up over rows, so there the donor loses exactly what the receiver gains.
    m.loss =
        pairs_only_ ? m.gain : cost(t.q_begin, t.q_end) - cost(t.q_begin, b) - cost(e, t.q_end);
    return m;
  }

  bool fits(const Move& m, int64_t def, int64_t sur) const {
    return m.gain > 0 && m.loss > 0 && m.gain <= def && m.loss <= sur;
  }

  Move priced(Move m, int r) const {
    const Task& t = tasks_[m.task];
    if (t.home != r) m.bytes += (o_.bytes.q + o_.bytes.o) * (m.end - m.begin);
    m.bytes += o_.bytes.kv * missing_kv(t.doc, r, m.end);
    return m;
  }

  // The largest move of one shape that fits: `at(k)` is the move for size parameter k, which
  // shrinks as k grows over [lo, hi]; binary search for the smallest k that fits.
  template <typename At>
  std::optional<Move> shrink_to_fit(int64_t lo, int64_t hi, int64_t def, int64_t sur, At at) const {
    if (lo > hi || !fits(at(hi), def, sur)) return std::nullopt;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (fits(at(mid), def, sur))
        hi = mid;
      else
        lo = mid + 1;
    }
    return at(lo);
  }

  // The best move to receiver r gaining at most `def`, from servers s losing at most
  // cap(s) (> 0 for donors), or `best` when nothing beats it.
  template <typename Cap>
  std::optional<Move> best_move(int r, int64_t def, Cap cap, std::optional<Move> best) const {
    const int64_t min = o_.min_slice;
    auto consider = [&](std::optional<Move> m) {
      if (!m) return;
      m->receiver = r;
      m = priced(*m, r);
      if (!best) {
        best = m;
        return;
      }
      // Fewest bytes per unit of work (cross-multiplied: integers only), then the fixed
      // tie-breaks: donor server, document, first row, shape.
      const i128 a = i128(m->bytes) * best->gain, b = i128(best->bytes) * m->gain;
      const Task& mt = tasks_[m->task];
      const Task& bt = tasks_[best->task];
      if (a < b || (a == b && std::make_tuple(mt.server, m->receiver, mt.doc, m->begin, m->shape) <
                                  std::make_tuple(bt.server, best->receiver, bt.doc, best->begin,
                                                  best->shape)))
        best = m;
    };
    // Every move of a task away from its home sends at least (q + o) bytes per row (byte costs
    // are not negative) and gains at most row_gain(q_end) per row, so none beats `best` when
    // (q + o) / row_gain(q_end) exceeds best's ratio. Only strictly worse tasks are skipped:
    // the choice is a minimum over a total order, so the plan is the exhaustive scan's.
    const ByteCosts& by = o_.bytes;
    const bool bound = by.q >= 0 && by.o >= 0 && by.kv >= 0;
    const int64_t qo = by.q + by.o;
    for (int donor = 0; donor < servers_; ++donor) {
      const int64_t sur = donor == r ? 0 : cap(donor);
      if (sur <= 0 || out_of_reach(floor_[donor], def, sur)) continue;
      for (int i : by_server_[donor]) {
        const Task& t = tasks_[i];
        if (out_of_reach(smallest_[i], def, sur)) continue;
        if (bound && best && t.home != r &&
            i128(qo) * best->gain > i128(best->bytes) * row_gain(t.q_end))
          continue;
        consider_task(i, def, sur, min, consider);
      }
    }
    return best;
  }

  // The moves of task i's shapes, each sized to gain at most `def` and lose at most `sur`.
  template <typename Consider>
  void consider_task(int i, int64_t def, int64_t sur, int64_t min, Consider& consider) const {
    {
      const Task& t = tasks_[i];
      const int64_t n = t.rows(), qb = t.q_begin, qe = t.q_end;
      // The whole task; when it fits, no slice of it moves more work.
      if (const Move whole = sized(i, qb, qe, 0); fits(whole, def, sur)) {
        consider(whole);
        return;
      }
      // Cuts fall on multiples of `a` rows from the document's start (the kernel's query tile:
      // then a server's tiles are the one-rank tiles, and so are its bits); a = 1 cuts anywhere.
      const int64_t a = o_.align;
      auto down = [a](int64_t x) { return x - x % a; };
      auto up = [a](int64_t x) { return (x + a - 1) / a * a; };
      // The middle band: at least h = j * a rows stay in front and behind, each side and the
      // band >= min rows (DistCA's mirrored band when a = 1).
      int64_t top = (n - min) / 2 / a;
      while (top > 0 && down(qe - top * a) - up(qb + top * a) < min) --top;
      consider(shrink_to_fit((min + a - 1) / a, top, def, sur, [&](int64_t j) {
        return sized(i, up(qb + j * a), down(qe - j * a), 1);
      }));
      if (!o_.prefix_suffix) return;
      // A suffix or a prefix, it and the rest >= min rows; the parameter grows with the rows
      // that stay.
      int64_t most = (n - min) / a;
      while (most > 0 && qe - up(qb + most * a) < min) --most;
      consider(shrink_to_fit((min + a - 1) / a, most, def, sur,
                             [&](int64_t j) { return sized(i, up(qb + j * a), qe, 2); }));
      const int64_t last_cut = down(qe - min);
      consider(shrink_to_fit(0, last_cut - qb - min < 0 ? -1 : (last_cut - qb - min) / a, def, sur,
                             [&](int64_t j) { return sized(i, qb, last_cut - j * a, 3); }));
    }
  }

  void apply(const Move& m) {
    const int r = m.receiver;
    const Task t = tasks_[m.task];
    load_[t.server] -= m.loss;
    load_[r] += m.gain;
    set_excess(t.server);
    set_excess(r);
    // The task keeps its index as the first remaining piece (or becomes the moved one).
    std::vector<Task> pieces;
    if (t.q_begin < m.begin) pieces.push_back({t.doc, t.q_begin, m.begin, t.server, t.home});
    if (m.end < t.q_end) pieces.push_back({t.doc, m.end, t.q_end, t.server, t.home});
    tasks_[m.task] = {t.doc, m.begin, m.end, r, t.home};
    std::vector<int>& donor = by_server_[t.server];
    donor.erase(std::find(donor.begin(), donor.end(), m.task));
    by_server_[r].push_back(m.task);
    smallest_[m.task] = smallest_move(m.task);
    for (const Task& p : pieces) add(p);
    refloor(t.server);
    refloor(r);
  }

  const WorkerLayout& l_;
  const PlannerOptions& o_;
  int servers_;
  bool pairs_only_;  // the default cost model: load is causal pairs exactly
  std::vector<Task> tasks_;
  std::vector<std::vector<int>> by_doc_;               // task indices of each document
  std::vector<std::vector<int>> by_server_;            // task indices on each server
  std::vector<char> exhausted_;                        // receivers no donor task fits any more
  std::vector<std::pair<int64_t, int64_t>> smallest_;  // per task: smallest_move()
  std::vector<std::pair<int64_t, int64_t>> floor_;     // per server: least over its tasks
  std::vector<int64_t> load_;
  std::vector<int64_t> excess_;  // surplus (> 0) or minus the deficit, per server
  int64_t total_ = 0, upper_ = 0, lower_ = 0;
};

Plan plan_once(const WorkerLayout& layout, const PlannerOptions& o, double eps) {
  Greedy g(layout, o, eps);
  Plan p;
  p.servers = layout.ranks();
  p.eps = eps;
  p.moves = g.run();
  p.tasks = g.tasks();
  p.load.assign(p.servers, 0);
  for (const Task& t : p.tasks) p.load[t.server] += o.cost.cost(t.q_begin, t.q_end);
  p.traffic = plan_traffic(layout, p.tasks, o.bytes);
  const auto [lo, hi] = std::minmax_element(p.load.begin(), p.load.end());
  p.balanced = *hi <= g.upper() && *lo >= g.lower();
  if (!p.balanced) {
    const double mean = static_cast<double>(g.total()) / p.servers;
    p.unbalanced_why =
        *hi > g.upper()
            ? fmt::format(
                  "the busiest server carries {:.3f} x the mean, above 1 + eps = {:.3f}: "
                  "no move fits the others' deficits without a slice under {} rows",
                  static_cast<double>(*hi) / mean, 1 + eps, o.min_slice)
            : fmt::format(
                  "the idlest server carries {:.3f} x the mean, below 1 - eps = {:.3f}: "
                  "no move fits without a slice under {} rows",
                  static_cast<double>(*lo) / mean, 1 - eps, o.min_slice);
  }
  return p;
}

}  // namespace

int64_t CostModel::cost(int64_t q_begin, int64_t q_end) const {
  const int64_t pairs = causal_pairs(q_begin, q_end);
  if (per_pair == 1 && per_row == 0 && per_task == 0) return pairs;
  return std::llround(per_pair * static_cast<double>(pairs) +
                      per_row * static_cast<double>(q_end - q_begin) + per_task);
}

const std::vector<double>& tolerance_ladder() {
  static const std::vector<double> ladder{0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0};
  return ladder;
}

Plan plan_attention(const WorkerLayout& layout, const PlannerOptions& o) {
  if (!(o.eps > 0) || o.min_slice < 1 || o.align < 1)
    ATTN_FAIL(kInput, "CAD planner: eps {}, min_slice {} and align {} must be positive", o.eps,
              o.min_slice, o.align);
  Plan p = plan_once(layout, o, o.eps);
  if (o.buffer_bytes <= 0) return p;
  for (double eps : tolerance_ladder()) {
    if (p.traffic.max_per_rank() <= o.buffer_bytes) break;
    if (eps > p.eps) p = plan_once(layout, o, eps);
  }
  return p;
}

}  // namespace attn::cad
