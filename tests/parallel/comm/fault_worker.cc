// A deliberately failing MPI job for fault_test.cc. `comm_fault_worker throw`: the last rank
// throws while the others wait in an all-reduce. `comm_fault_worker sleep`: the last rank
// sleeps 10 s before joining while the watchdog timeout is 1 s. `cad-kill`: in a CAD core
// attention call, the last rank is killed (SIGKILL) between the executor's collectives.
// `cad-disagree`: the last rank plans differently.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "parallel/cad/cad_executor.h"
#include "parallel/comm/world.h"

// One CAD core-attention call with gradients on: rank 0 holds a long document, the others
// short ones, so the plan moves work.
int cad_call(attn::Communicator& comm, const std::string& mode, bool culprit) {
  attn::cad::CadOptions o;
  o.planner_fn = [&](const attn::cad::WorkerLayout& layout, const attn::cad::PlannerOptions& po) {
    if (culprit && mode == "cad-kill") std::raise(SIGKILL);
    attn::cad::PlannerOptions mine = po;
    if (culprit && mode == "cad-disagree") mine.eps = 0.9;
    return attn::cad::plan_attention(layout, mine);
  };
  attn::cad::CadExecutor ex(comm, o);
  const int64_t n = 512;
  std::vector<int32_t> cu{0};
  for (int64_t left = n; left > 0;) {
    const int64_t l = comm.rank() == 0 ? left : std::min<int64_t>(left, 64);
    cu.push_back(cu.back() + static_cast<int32_t>(l));
    left -= l;
  }
  const attn::Tensor cut =
      attn::Tensor::from_vector<int32_t>({static_cast<int64_t>(cu.size())}, cu);
  attn::Tensor q = attn::Tensor::full({n, 2, 8}, 0.5).set_requires_grad(true);
  attn::Tensor k = attn::Tensor::full({n, 2, 8}, 0.25).set_requires_grad(true);
  attn::Tensor v = attn::Tensor::full({n, 2, 8}, 1.0).set_requires_grad(true);
  ex.run(0, q, k, v, cut, cut, attn::Tensor(), {});
  return 0;
}

int run(attn::Communicator& comm, const std::string& mode) {
  return attn::run_guarded(comm, [&] {
    attn::Tensor t = attn::Tensor::full({7}, 1.0);
    comm.all_reduce_sum(t);  // everyone healthy and connected first
    const bool culprit = comm.rank() == comm.world_size() - 1;
    if (culprit && mode == "throw") ATTN_FAIL(kInput, "injected failure for the fault test");
    if (culprit && mode == "sleep") std::this_thread::sleep_for(std::chrono::seconds(10));
    if (mode.rfind("cad-", 0) == 0) return cad_call(comm, mode, culprit);
    comm.all_reduce_sum(t);  // the other ranks wait here
    return 0;
  });
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "throw" && mode != "sleep" && mode != "cad-kill" && mode != "cad-disagree") {
    std::fprintf(stderr, "usage: comm_fault_worker throw|sleep|cad-kill|cad-disagree\n");
    return 64;
  }
  std::unique_ptr<attn::Communicator> comm =
      attn::make_world_communicator(mode == "sleep" || mode == "cad-kill" ? 1.0 : 300.0);
  try {
    return run(*comm, mode);
  } catch (const attn::Error& e) {  // a world of one: run_guarded let it through
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  }
}
