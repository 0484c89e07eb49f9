// The CUDA streams of this process: one compute stream (every kernel, copy and cuBLAS call of the
// backend) and one communication stream (NCCL), per device, created on first use.
#pragma once

#include <cuda_runtime.h>

namespace attn::cuda {

// Streams of the current device. Both are created non-blocking, so they never serialise
// with the legacy default stream; work crossing between them is ordered with events.
cudaStream_t compute_stream();
cudaStream_t comm_stream();

}  // namespace attn::cuda
