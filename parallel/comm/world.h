// The communicator of this process (MpiComm under mpirun, LocalComm alone) and the guard that
// turns an exception on one rank into a job-wide abort instead of peers stuck in a collective.
#pragma once

#include <functional>
#include <memory>

#include "parallel/comm/communicator.h"

namespace attn {

// True when mpirun started this process (OpenMPI's OMPI_COMM_WORLD_SIZE or PMIx's PMIX_RANK).
bool started_by_mpirun();

// MpiComm(timeout_s) under mpirun, LocalComm otherwise. Create it once, early, and keep it for
// the whole run: MPI cannot be initialised a second time.
std::unique_ptr<Communicator> make_world_communicator(double timeout_s = 300.0);

// Runs body and returns its exit code. An exception escaping it prints "rank R: <what>" and
// ends the whole job (Communicator::abort) with the error's exit code (attn::Error: 2 for bad
// config or input, 1 otherwise): the other ranks may be waiting in a collective this rank will
// never join. Use it around everything a rank does between creating and destroying the world.
int run_guarded(Communicator& comm, const std::function<int()>& body);

}  // namespace attn
