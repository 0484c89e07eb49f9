// make_nccl_comm in builds without CUDA or NCCL: fails loudly instead of falling back to MPI.
#include "parallel/comm/nccl_comm.h"

namespace attn {

bool built_with_nccl() {
  return false;
}

std::unique_ptr<Communicator> make_nccl_comm(Communicator&, double) {
  ATTN_FAIL(kConfig,
            "NcclComm: this binary was built without CUDA/NCCL (nvcc or libnccl not found at "
            "configure time); train on the CPU or rebuild with the CUDA backend");
}

}  // namespace attn
