// Communicator over NCCL for runs on CUDA, one GPU per rank: buffers live on this rank's GPU,
// operations run on the communication stream, ordered after the compute stream with events.
#pragma once

#include <memory>

#include "parallel/comm/communicator.h"

namespace attn {

// True when this binary was built with CUDA and NCCL (make_nccl_comm can then work).
bool built_with_nccl();

// Collective over every rank of `bootstrap` (MpiComm under mpirun, LocalComm alone), which
// carries NCCL's unique id from rank 0 and must outlive the returned communicator.
//
// GPU choice: the local rank L is OMPI_COMM_WORLD_LOCAL_RANK where Open MPI sets it, else
// this rank's position among the ranks on its machine (grouped by host name, ordered by rank,
// like MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)); the rank uses visible GPU
// L mod cudaGetDeviceCount(), made the current device, and buffer_device() is cuda:<that GPU>.
// Create the communicator before any CUDA tensor (allocations and streams follow the current
// device). Two ranks on one GPU (more ranks than GPUs on a machine) is refused on every rank:
// NCCL does not allow it.
//
// Semantics beyond Communicator's: tags are checked but NCCL has none, so messages between two
// ranks match in the order they were issued. Sends and receives are issued to NCCL together,
// as one group, when one of them is first waited for or tested, or before the next collective:
// post both halves of an exchange (i_send, i_recv) before waiting, or the two ranks' blocking
// sends wait for each other forever. A receive's size is not checked against the message.
// wait() blocks the host until the operation is done on the GPU and makes the compute stream
// wait for it; an NCCL error (a lost peer) throws, and no progress for timeout_s ends the job
// like MpiComm's watchdog. Built without CUDA or NCCL, this throws.
std::unique_ptr<Communicator> make_nccl_comm(Communicator& bootstrap, double timeout_s = 300.0);

}  // namespace attn
