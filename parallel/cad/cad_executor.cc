#include "parallel/cad/cad_executor.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "parallel/cad/task_buffers.h"

namespace attn::cad {

// What one distributed call keeps for its backward.
struct CadExecutor::Batch {
  std::shared_ptr<const Routes> routes;
  ServerPack pack;
  LocalDocs docs;
  Widths w;
  Tensor q, k, v, out, lse;                       // local (worker) tensors
  Tensor q_pack, k_pack, v_pack, o_pack, l_pack;  // stateful servers only
  CoreAttentionOptions options;
  std::shared_ptr<CadCounters> counters;
  int64_t retained = 0;
  void release() {
    counters->retained_bytes -= retained;
    retained = 0;
    q_pack = k_pack = v_pack = o_pack = l_pack = Tensor();
  }
  ~Batch() { release(); }
};

CadExecutor::CadExecutor(Communicator& comm, CadOptions options)
    : comm_(comm), options_(std::move(options)), counters_(std::make_shared<CadCounters>()) {}

CadExecutor::~CadExecutor() = default;

void CadExecutor::plan_batch(const std::vector<int32_t>& cu) {
  const int world = comm_.world_size(), me = comm_.rank();
  std::vector<int64_t> mine;
  for (size_t i = 1; i < cu.size(); ++i)
    if (cu[i] > cu[i - 1]) mine.push_back(cu[i] - cu[i - 1]);
  Tensor count = Tensor::from_vector<int64_t>({1}, {static_cast<int64_t>(mine.size())});
  Tensor counts = Tensor::empty({world}, DType::kI64);
  comm_.all_gather(count, counts);
  const std::vector<int64_t> per_rank = counts.to_vector<int64_t>();
  int64_t docs = 0;
  for (int64_t c : per_rank) docs += c;
  Tensor all = Tensor::empty({std::max<int64_t>(docs, 1)}, DType::kI64);
  Tensor local = Tensor::from_vector<int64_t>({static_cast<int64_t>(mine.size())}, mine);
  Tensor all_view = all.slice0(0, docs);
  comm_.all_gather_v(local, all_view, per_rank);
  std::vector<int64_t> lengths = all_view.to_vector<int64_t>();
  // The same batch (every layer of a step, and the backward) reuses its plan; the byte costs and
  // the tile only steer the planner, so they join the key.
  if (routes_ && lengths == lengths_ && bytes_.q == planned_bytes_.q &&
      bytes_.kv == planned_bytes_.kv && bytes_.o == planned_bytes_.o && align_ == planned_align_)
    return;

  // Workers own equal token shares, so the layout's ranks are the ranks' own documents.
  doc_offset_.assign(world + 1, 0);
  std::vector<int64_t> tokens(world, 0);
  for (int r = 0, d = 0; r < world; ++r) {
    doc_offset_[r + 1] = doc_offset_[r] + per_rank[r];
    for (; d < doc_offset_[r + 1]; ++d) tokens[r] += lengths[d];
  }
  for (int r = 1; r < world; ++r)
    if (tokens[r] != tokens[0])
      ATTN_FAIL(kInput,
                "CAD needs the same number of tokens on every rank: rank {} has {}, rank 0 {}", r,
                tokens[r], tokens[0]);
  const WorkerLayout layout(lengths, world);
  PlannerOptions po = options_.planner;
  po.bytes = bytes_;
  po.align = align_;
  // Every rank plans from the same lengths; a different or invalid plan anywhere is a bug or a
  // corrupted rank, and running on would exchange mismatched buffers. Ranks compare hashes
  // before anyone throws, so a failure on one rank ends every rank with the same named error
  // instead of leaving the others waiting in the next collective.
  Plan plan;
  std::string invalid;
  try {
    plan = options_.planner_fn ? options_.planner_fn(layout, po) : plan_attention(layout, po);
    check_plan(layout, plan);
  } catch (const Error& e) {
    invalid = e.what();
  }
  constexpr uint64_t kInvalidPlan = 0;  // FNV-1a of any plan is never 0 in practice
  const uint64_t h = invalid.empty() ? plan.hash() : kInvalidPlan;
  int64_t hash_bits;
  std::memcpy(&hash_bits, &h, sizeof h);
  Tensor hashes = Tensor::empty({world}, DType::kI64);
  comm_.all_gather(Tensor::from_vector<int64_t>({1}, {hash_bits}), hashes);
  const std::vector<int64_t> all_hashes = hashes.to_vector<int64_t>();
  for (int r = 0; r < world; ++r)
    if (static_cast<uint64_t>(all_hashes[r]) == kInvalidPlan)
      ATTN_FAIL(kInternal, "CAD plan of rank {} is invalid{}", r,
                r == me ? ": " + invalid : " (its own error names why)");
  for (int r = 1; r < world; ++r)
    if (all_hashes[r] != all_hashes[0])
      ATTN_FAIL(kInternal, "CAD plans disagree: rank {} has plan hash {:016x}, rank 0 {:016x}", r,
                static_cast<uint64_t>(all_hashes[r]), static_cast<uint64_t>(all_hashes[0]));
  std::vector<int64_t> packed(world, 0);
  for (const Task& t : home_tasks(layout)) packed[t.server] += t.pairs();
  int64_t total = 0;
  for (int64_t x : packed) total += x;
  packed_imbalance_ = total > 0
                          ? static_cast<double>(*std::max_element(packed.begin(), packed.end())) *
                                world / static_cast<double>(total)
                          : 1;
  lengths_ = std::move(lengths);
  planned_bytes_ = bytes_;
  planned_align_ = align_;
  plan_ = std::move(plan);
  routes_ = std::make_shared<const Routes>(routes_for(layout, plan_, me));
  ++counters_->plans;
}

std::map<std::string, double> CadExecutor::metrics() {
  if (!routes_) return {};
  const int world = comm_.world_size();
  Tensor mine = Tensor::from_vector<double>({2}, {counters_->server_s, counters_->exchange_s});
  Tensor all = Tensor::empty({2 * world}, DType::kF64);
  comm_.all_gather(mine, all);
  const std::vector<double> t = all.to_vector<double>();
  last_server_s_.resize(world, 0);
  last_exchange_s_.resize(world, 0);
  double most = 0, sum = 0, exchange = 0;
  for (int r = 0; r < world; ++r) {
    const double s = t[2 * r] - last_server_s_[r];
    most = std::max(most, s);
    sum += s;
    exchange = std::max(exchange, t[2 * r + 1] - last_exchange_s_[r]);
    last_server_s_[r] = t[2 * r];
    last_exchange_s_[r] = t[2 * r + 1];
  }
  return {{"cad/moves", plan_.moves},
          {"cad/tasks", static_cast<double>(plan_.tasks.size())},
          {"cad/imbalance", plan_.imbalance()},
          {"cad/imbalance_packed", packed_imbalance_},
          {"cad/imbalance_measured", sum > 0 ? most * world / sum : 1.0},
          {"cad/exchange_s", exchange},
          {"cad/sent_bytes", static_cast<double>(counters_->sent_bytes)}};
}

PendingCoreAttention CadExecutor::start(int layer, const Tensor& q, const Tensor& k,
                                        const Tensor& v, const Tensor& cu_seqlens_q,
                                        const Tensor& cu_seqlens_k, const Tensor& sink,
                                        const CoreAttentionOptions& options) {
  const AttentionStatsRequest& st = options.stats;
  const bool plain = options.mask.kind == MaskKind::kCausal && options.mask.window == 0 &&
                     !sink.defined() && !st.entropy && !st.prob_sq_sum && !st.first_token_mass &&
                     !st.key_mass && !q.device().is_cuda();
  if (!grad_enabled() || !plain) {
    ++counters_->local_calls;
    return local_core_attention().start(layer, q, k, v, cu_seqlens_q, cu_seqlens_k, sink, options);
  }
  ATTN_CHECK(q.dtype() == DType::kF32 || q.dtype() == DType::kF64,
             "CAD core attention: f32 or f64 tensors, got {}", q.str());
  ATTN_CHECK(q.ndim() == 3 && k.ndim() == 3 && v.ndim() == 3 && q.size(0) == k.size(0) &&
                 k.size(0) == v.size(0) && k.dtype() == q.dtype() && v.dtype() == q.dtype(),
             "CAD core attention: self-attention q {}, k {}, v {}", q.str(), k.str(), v.str());
  const std::vector<int32_t> cu = cu_seqlens_q.to_vector<int32_t>();
  ATTN_CHECK(cu == cu_seqlens_k.to_vector<int32_t>() && !cu.empty() && cu.front() == 0 &&
                 cu.back() == q.size(0),
             "CAD core attention: queries and keys must share their documents");
  ++counters_->distributed_calls;
  const int64_t heads = q.size(1), kvh = k.size(1), d = q.size(2), dv = v.size(2);
  const DType dt = q.dtype();
  const size_t elem = dtype_size(dt);
  align_ = options.block_q;
  bytes_ = {static_cast<int64_t>(heads * d * elem), static_cast<int64_t>(kvh * (d + dv) * elem),
            static_cast<int64_t>(heads * (dv + 1) * elem)};
  plan_batch(cu);

  auto b = std::make_shared<Batch>();
  b->routes = routes_;
  const Routes& r = *b->routes;
  b->pack = pack_layout(r);
  b->w = {heads * d, kvh * d, kvh * dv, heads * dv, heads};
  b->docs.first_doc = static_cast<int32_t>(doc_offset_[comm_.rank()]);
  for (size_t i = 1; i < cu.size(); ++i)
    if (cu[i] > cu[i - 1]) b->docs.start.push_back(cu[i - 1]);
  b->q = q, b->k = k, b->v = v;
  b->options = options;
  b->counters = counters_;
  const Widths& w = b->w;
  const int world = comm_.world_size(), me = comm_.rank();

  auto exchange = [this, world, me, elem](Payload& send, Payload& recv) {
    const auto t0 = std::chrono::steady_clock::now();
    comm_.all_to_all_v(send.buf, send.chunks, recv.buf, recv.chunks);
    counters_->exchange_s +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++counters_->exchanges;
    for (int p = 0; p < world; ++p) {
      if (p == me) continue;
      counters_->sent_bytes += send.chunks.counts[p] * static_cast<int64_t>(elem);
      counters_->received_bytes += recv.chunks.counts[p] * static_cast<int64_t>(elem);
    }
  };
  std::vector<int64_t> send_counts(world), recv_counts(world);
  for (int p = 0; p < world; ++p) {
    send_counts[p] = Routes::rows(r.q_to[p]) * w.q + Routes::rows(r.kv_to[p]) * (w.k + w.v);
    recv_counts[p] = Routes::rows(r.q_from[p]) * w.q + Routes::rows(r.kv_from[p]) * (w.k + w.v);
  }
  // Worker -> server: [Q rows][K runs][V runs] per server.
  Payload send(send_counts, dt), recv(recv_counts, dt);
  for (int s = 0; s < world; ++s) {
    char* at = put_runs(send.chunk(s), r.q_to[s], q, w.q, b->docs, elem);
    at = put_runs(at, r.kv_to[s], k, w.k, b->docs, elem);
    put_runs(at, r.kv_to[s], v, w.v, b->docs, elem);
  }
  exchange(send, recv);
  const Received x = index_received(recv, r, w.q, w.k, w.v);
  const Tensor cu_q =
      Tensor::from_vector<int32_t>({static_cast<int64_t>(b->pack.cu_q.size())}, b->pack.cu_q);
  const Tensor cu_k =
      Tensor::from_vector<int32_t>({static_cast<int64_t>(b->pack.cu_k.size())}, b->pack.cu_k);
  Tensor qp = gather_rows(x, r, b->pack, w.q, Shape({heads, d}), dt);
  Tensor kp = gather_prefixes(x, r, b->pack, false, w.k, Shape({kvh, d}), dt);
  Tensor vp = gather_prefixes(x, r, b->pack, true, w.v, Shape({kvh, dv}), dt);
  CoreAttentionResult served;
  {
    NoGrad no_grad;
    const auto t0 = std::chrono::steady_clock::now();
    served = core_attention(qp, kp, vp, cu_q, cu_k, Tensor(), options);
    counters_->server_s +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  // Server -> worker: [O rows][lse rows] of each home's tasks, in plan order.
  for (int p = 0; p < world; ++p) {
    send_counts[p] = Routes::rows(r.q_from[p]) * (w.o + w.l);
    recv_counts[p] = Routes::rows(r.q_to[p]) * (w.o + w.l);
  }
  Payload back(send_counts, dt), home(recv_counts, dt);
  for (int h = 0; h < world; ++h) {
    char* o_at = back.chunk(h);
    char* l_at = o_at + static_cast<size_t>(Routes::rows(r.q_from[h]) * w.o) * elem;
    for (size_t i = 0; i < r.tasks.size(); ++i) {
      const Task& t = r.tasks[i];
      if (t.home != h) continue;
      const int64_t at = b->pack.q_at[i];
      std::memcpy(o_at, static_cast<const char*>(served.out.raw()) + at * w.o * elem,
                  t.rows() * w.o * elem);
      std::memcpy(l_at, static_cast<const char*>(served.lse.raw()) + at * w.l * elem,
                  t.rows() * w.l * elem);
      o_at += t.rows() * w.o * elem;
      l_at += t.rows() * w.l * elem;
    }
  }
  exchange(back, home);
  CoreAttentionResult res;
  res.out = Tensor::empty({q.size(0), heads, dv}, dt);
  res.lse = Tensor::empty({q.size(0), heads}, dt);
  for (int s = 0; s < world; ++s) {
    const char* at = take_runs(home.chunk(s), r.q_to[s], res.out, w.o, b->docs, elem);
    take_runs(at, r.q_to[s], res.lse, w.l, b->docs, elem);
  }
  if (!needs_grad({q, k, v})) return PendingCoreAttention(std::move(res));

  b->out = res.out;
  b->lse = res.lse;
  if (!options_.resend) {
    b->q_pack = qp, b->k_pack = kp, b->v_pack = vp, b->o_pack = served.out, b->l_pack = served.lse;
    b->retained = static_cast<int64_t>(qp.nbytes() + kp.nbytes() + vp.nbytes() +
                                       served.out.nbytes() + served.lse.nbytes());
    counters_->retained_bytes += b->retained;
  }
  const bool resend = options_.resend;
  record(
      "cad_core_attention", {res.out},
      [this, b, resend, cu_q, cu_k, exchange, world, elem, heads, kvh, d, dv, dt] {
        const Routes& r = *b->routes;
        const Widths& w = b->w;
        const Tensor dout =
            b->out.has_grad() ? b->out.grad() : Tensor::zeros(b->out.shape(), b->out.dtype());
        // Worker -> server: [dO][O, lse, Q, K, V when resending] per server.
        std::vector<int64_t> send_counts(world), recv_counts(world);
        for (int p = 0; p < world; ++p) {
          send_counts[p] = Routes::rows(r.q_to[p]) * w.o;
          recv_counts[p] = Routes::rows(r.q_from[p]) * w.o;
          if (resend) {
            send_counts[p] += Routes::rows(r.q_to[p]) * (w.o + w.l + w.q) +
                              Routes::rows(r.kv_to[p]) * (w.k + w.v);
            recv_counts[p] += Routes::rows(r.q_from[p]) * (w.o + w.l + w.q) +
                              Routes::rows(r.kv_from[p]) * (w.k + w.v);
          }
        }
        Payload send(send_counts, dt), recv(recv_counts, dt);
        for (int s = 0; s < world; ++s) {
          char* at = put_runs(send.chunk(s), r.q_to[s], dout, w.o, b->docs, elem);
          if (!resend) continue;
          at = put_runs(at, r.q_to[s], b->out, w.o, b->docs, elem);
          at = put_runs(at, r.q_to[s], b->lse, w.l, b->docs, elem);
          at = put_runs(at, r.q_to[s], b->q, w.q, b->docs, elem);
          at = put_runs(at, r.kv_to[s], b->k, w.k, b->docs, elem);
          put_runs(at, r.kv_to[s], b->v, w.v, b->docs, elem);
        }
        exchange(send, recv);
        // The received sections: dO first; resending, then O, lse and the forward's Q, K, V.
        const int64_t q_like = resend ? 2 * w.o + w.l + w.q : w.o;
        Received x = index_received(recv, r, q_like, resend ? w.k : 0, resend ? w.v : 0);
        Tensor dop = gather_rows(x, r, b->pack, w.o, Shape({heads, dv}), dt);
        Tensor qp = b->q_pack, kp = b->k_pack, vp = b->v_pack, op = b->o_pack, lp = b->l_pack;
        if (resend) {
          // Each home's section is [dO | O | lse | Q] rows back to back, then its K and V runs.
          auto section = [&](int64_t skip, int64_t width, const Shape& shape) {
            Received y = x;
            for (size_t h = 0; h < y.q.size(); ++h)
              y.q[h] += static_cast<size_t>(Routes::rows(r.q_from[h]) * skip) * elem;
            return gather_rows(y, r, b->pack, width, shape, dt);
          };
          op = section(w.o, w.o, Shape({heads, dv}));
          lp = section(2 * w.o, w.l, Shape({heads}));
          qp = section(2 * w.o + w.l, w.q, Shape({heads, d}));
          kp = gather_prefixes(x, r, b->pack, false, w.k, Shape({kvh, d}), dt);
          vp = gather_prefixes(x, r, b->pack, true, w.v, Shape({kvh, dv}), dt);
        }
        const auto t0 = std::chrono::steady_clock::now();
        const CoreAttentionGrads g =
            core_attention_backward(qp, kp, vp, cu_q, cu_k, b->options, op, lp, dop);
        b->counters->server_s +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        b->release();

        // Stage 1, on the server: each document's dK/dV prefix summed over its tasks, plan order.
        std::map<int32_t, int64_t> kv_end;
        for (const Task& t : r.tasks) kv_end[t.doc] = std::max(kv_end[t.doc], t.q_end);
        std::map<int32_t, std::pair<Tensor, Tensor>> sums;
        for (const auto& [doc, end] : kv_end)
          sums.emplace(doc, std::make_pair(Tensor::zeros({end, kvh, d}, dt),
                                           Tensor::zeros({end, kvh, dv}, dt)));
        for (size_t i = 0; i < r.tasks.size(); ++i) {
          const Task& t = r.tasks[i];
          const auto it = sums.find(t.doc);
          const int64_t k0 = b->pack.cu_k[i];
          add_into(it->second.first.slice0(0, t.q_end), g.dk.slice0(k0, k0 + t.q_end));
          add_into(it->second.second.slice0(0, t.q_end), g.dv.slice0(k0, k0 + t.q_end));
        }
        // Server -> worker: [dQ rows of the home's tasks][dK runs][dV runs].
        for (int p = 0; p < world; ++p) {
          send_counts[p] =
              Routes::rows(r.q_from[p]) * w.q + Routes::rows(r.kv_from[p]) * (w.k + w.v);
          recv_counts[p] = Routes::rows(r.q_to[p]) * w.q + Routes::rows(r.kv_to[p]) * (w.k + w.v);
        }
        Payload back(send_counts, dt), home(recv_counts, dt);
        for (int h = 0; h < world; ++h) {
          char* at = back.chunk(h);
          for (size_t i = 0; i < r.tasks.size(); ++i) {
            const Task& t = r.tasks[i];
            if (t.home != h) continue;
            const size_t n = static_cast<size_t>(t.rows() * w.q) * elem;
            std::memcpy(at, static_cast<const char*>(g.dq.raw()) + b->pack.q_at[i] * w.q * elem, n);
            at += n;
          }
          for (const bool values : {false, true}) {
            const int64_t width = values ? w.v : w.k;
            for (const RowRun& run : r.kv_from[h]) {
              const Tensor& sum = values ? sums.at(run.doc).second : sums.at(run.doc).first;
              const size_t n = static_cast<size_t>(run.rows() * width) * elem;
              std::memcpy(at, static_cast<const char*>(sum.raw()) + run.begin * width * elem, n);
              at += n;
            }
          }
        }
        exchange(back, home);
        // Stage 2, on the home worker: every server's part in rank order.
        Tensor dq = Tensor::zeros(b->q.shape(), dt), dk = Tensor::zeros(b->k.shape(), dt),
               dvv = Tensor::zeros(b->v.shape(), dt);
        for (int s = 0; s < world; ++s) {
          const char* at = take_runs(home.chunk(s), r.q_to[s], dq, w.q, b->docs, elem);
          for (const bool values : {false, true}) {
            const int64_t width = values ? w.v : w.k;
            Tensor& into = values ? dvv : dk;
            for (const RowRun& run : r.kv_to[s]) {
              const int64_t row = b->docs.row(run), n = run.rows() * width;
              Tensor part = Tensor::empty({n}, dt);
              std::memcpy(part.raw(), at, static_cast<size_t>(n) * elem);
              add_into(into.view({into.numel()}).slice0(row * width, row * width + n), part);
              at += static_cast<size_t>(n) * elem;
            }
          }
        }
        if (b->q.requires_grad()) add_into(grad_target(b->q), dq);
        if (b->k.requires_grad()) add_into(grad_target(b->k), dk);
        if (b->v.requires_grad()) add_into(grad_target(b->v), dvv);
      });
  return PendingCoreAttention(std::move(res));
}

}  // namespace attn::cad
