#include "recipes/train/train_job.h"

#include <memory>
#include <vector>

#include <fmt/format.h>

#include "framework/core/error.h"
#include "parallel/comm/nccl_comm.h"
#include "parallel/comm/world.h"

namespace attn {

namespace {

// Every rank reads the recipe (and its --set overrides) itself; ranks that disagree would train
// different models in lockstep and average nonsense. Checked before anything else is built.
void check_ranks_agree_on_recipe(Communicator& comm, const config::Recipe& recipe) {
  if (comm.world_size() == 1) return;
  const int64_t mine = static_cast<int64_t>(config::recipe_hash(recipe));
  Tensor all = Tensor::zeros({comm.world_size()}, DType::kI64);
  comm.all_gather(Tensor::from_vector<int64_t>({1}, {mine}), all);
  const std::vector<int64_t> hashes = all.to_vector<int64_t>();
  auto hash_of = [&](int r) { return static_cast<uint64_t>(hashes[r]); };
  std::vector<int> differ;
  for (int r = 1; r < comm.world_size(); ++r)
    if (hash_of(r) != hash_of(0)) differ.push_back(r);
  if (!differ.empty())
    throw Error(ErrorKind::kConfig, fmt::format("rank {}", differ.front()),
                fmt::format("its recipe (hash {:016x}) differs from rank 0's ({:016x}); {} of {} "
                            "ranks disagree: every rank must read the same recipe and --set "
                            "overrides",
                            hash_of(differ.front()), hash_of(0), differ.size(), comm.world_size()));
}

}  // namespace

int run_training_job(const config::Recipe& recipe, const TrainOptions& options,
                     const std::function<void(const TrainResult&)>& report) {
  // Under mpirun every rank runs this; an error on one rank aborts the whole job.
  const std::unique_ptr<Communicator> comm = make_world_communicator(recipe.parallel().timeout_s());
  std::unique_ptr<Communicator> nccl;  // declared after comm: destroyed first
  return run_guarded(*comm, [&] {
    check_ranks_agree_on_recipe(*comm, recipe);
    TrainOptions o = options;
    o.comm = comm.get();
    // Gradients of GPU runs travel over NCCL; it picks and binds this rank's GPU, so it is set
    // up before the first CUDA tensor.
    if (recipe.train().device() == attnlab::config::CUDA && comm->world_size() > 1) {
      nccl = make_nccl_comm(*comm, recipe.parallel().timeout_s());
      o.device_comm = nccl.get();
    }
    const TrainResult r = train(recipe, o);
    if (comm->rank() == 0) report(r);
    return 0;
  });
}

}  // namespace attn
