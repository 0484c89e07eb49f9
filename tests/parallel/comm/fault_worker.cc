// A deliberately failing MPI job for fault_test.cc. `comm_fault_worker throw`: the last rank
// throws while the others wait in an all-reduce. `comm_fault_worker sleep`: the last rank
// sleeps 10 s before joining while the watchdog timeout is 1 s.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "framework/core/error.h"
#include "parallel/comm/world.h"

int run(attn::Communicator& comm, const std::string& mode) {
  return attn::run_guarded(comm, [&] {
    attn::Tensor t = attn::Tensor::full({7}, 1.0);
    comm.all_reduce_sum(t);  // everyone healthy and connected first
    const bool culprit = comm.rank() == comm.world_size() - 1;
    if (culprit && mode == "throw") ATTN_FAIL(kInput, "injected failure for the fault test");
    if (culprit && mode == "sleep") std::this_thread::sleep_for(std::chrono::seconds(10));
    comm.all_reduce_sum(t);  // the other ranks wait here
    return 0;
  });
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "throw" && mode != "sleep") {
    std::fprintf(stderr, "usage: comm_fault_worker throw|sleep\n");
    return 64;
  }
  std::unique_ptr<attn::Communicator> comm =
      attn::make_world_communicator(mode == "sleep" ? 1.0 : 300.0);
  try {
    return run(*comm, mode);
  } catch (const attn::Error& e) {  // a world of one: run_guarded let it through
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  }
}
