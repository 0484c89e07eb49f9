// Thin, checked wrappers over the CUDA runtime used by the device-agnostic core (allocation,
// copies, device queries). Built from runtime.cu with nvcc, or runtime_stub.cc without CUDA.
#pragma once

#include <cstddef>

namespace attn::cuda {

// True when this binary was built with the CUDA backend.
bool built_with_cuda();
// Number of usable GPUs; 0 when built without CUDA or when no device/driver is present.
int device_count();
// Makes GPU `index` the current device of the calling thread (kernels, streams, allocations).
void set_device(int index);
// Device memory; nullptr when out of memory. Throw attn::Error when CUDA is unavailable.
void* device_malloc(size_t bytes);
void device_free(void* ptr);

enum class CopyKind { kHostToDevice, kDeviceToHost, kDeviceToDevice };
void memcpy(void* dst, const void* src, size_t bytes, CopyKind kind);
void memset_zero(void* dst, size_t bytes);
void synchronize();

}  // namespace attn::cuda
