#include "recipes/train/train_job.h"

#include <memory>

#include "parallel/comm/nccl_comm.h"
#include "parallel/comm/world.h"

namespace attn {

int run_training_job(const config::Recipe& recipe, const TrainOptions& options,
                     const std::function<void(const TrainResult&)>& report) {
  // Under mpirun every rank runs this; an error on one rank aborts the whole job.
  const std::unique_ptr<Communicator> comm = make_world_communicator(recipe.parallel().timeout_s());
  std::unique_ptr<Communicator> nccl;  // declared after comm: destroyed first
  return run_guarded(*comm, [&] {
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
