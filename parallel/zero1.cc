#include "parallel/zero1.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"
#include "optim/grad_clip.h"

namespace attn {

namespace {

constexpr int64_t kShardAlign = 64;  // elements: keeps shard starts cache-line aligned

FlatRange shard_of(const std::vector<int64_t>& counts, int rank) {
  FlatRange r;
  r.begin = 0;
  for (int i = 0; i < rank; ++i) r.begin += counts[i];
  r.end = r.begin + counts[rank];
  return r;
}

}  // namespace

std::vector<int64_t> zero1_shard_counts(int64_t padded, int world) {
  ATTN_CHECK(world >= 1 && padded >= 0, "zero1_shard_counts({}, {})", padded, world);
  const int64_t per = (padded + world - 1) / world;
  const int64_t size = (per + kShardAlign - 1) / kShardAlign * kShardAlign;
  std::vector<int64_t> counts(world);
  int64_t begin = 0;
  for (int r = 0; r < world; ++r) {
    counts[r] = std::clamp<int64_t>(padded - begin, 0, size);
    begin += counts[r];
  }
  return counts;
}

Zero1Optimizer::Zero1Optimizer(ParamStore& store, Communicator& comm,
                               const MakeShardOptimizer& make)
    : Optimizer(store, FlatRange{0, -1}),
      comm_(comm),
      counts_(zero1_shard_counts(store.padded_size(), comm.world_size())) {
  range_ = shard_of(counts_, comm.rank());
  inner_ = make(range_);
  ATTN_CHECK(inner_ && inner_->range().begin == range_.begin && inner_->range().end == range_.end,
             "ZeRO-1: the shard optimizer must cover exactly its shard");
  scratch_ = Tensor::zeros({range_.size()}, store.dtype());
}

void Zero1Optimizer::reduce_scatter_gradients() {
  Tensor grads = store_.flat_grads();
  comm_.reduce_scatter_sum_v(grads, scratch_, counts_);
  grads.slice0(range_.begin, range_.end).copy_from(scratch_);
}

double Zero1Optimizer::clip_grad_norm(double max_norm) {
  Tensor sq = Tensor::from_vector<double>({1}, {grad_sum_squares(store_, range_)});
  comm_.all_reduce_sum(sq);
  const double norm = std::sqrt(sq.item());
  clip_grads_to(store_, range_, norm, max_norm);
  return norm;
}

void Zero1Optimizer::step() {
  inner_->step();
  Tensor params = store_.flat_params();
  scratch_.copy_from(params.slice0(range_.begin, range_.end));
  comm_.all_gather_v(scratch_, params, counts_);
}

NamedTensors Zero1Optimizer::whole_buffers() const {
  NamedTensors out;
  for (const auto& [name, shard] : inner_->flat_state()) {
    Tensor whole = store_.new_state_buffer();
    comm_.all_gather_v(shard, whole, counts_);
    out.emplace_back(name, whole);
  }
  return out;
}

NamedTensors Zero1Optimizer::state() const {
  return checkpoint_state(store_, whole_buffers(), inner_->scalar_state());
}

void Zero1Optimizer::load_state(const NamedTensors& state) {
  NamedTensors shards = inner_->flat_state();
  NamedTensors wholes;
  std::vector<std::string> scalar_names;
  for (const auto& [name, shard] : shards) wholes.emplace_back(name, store_.new_state_buffer());
  for (const auto& [name, value] : inner_->scalar_state()) scalar_names.push_back(name);
  // Checked in full before anything is copied into the live state.
  const NamedScalars scalars = load_checkpoint_state(store_, wholes, scalar_names, state);
  for (size_t i = 0; i < shards.size(); ++i)
    shards[i].second.copy_from(wholes[i].second.slice0(range_.begin, range_.end));
  inner_->load_scalar_state(scalars);
}

}  // namespace attn
