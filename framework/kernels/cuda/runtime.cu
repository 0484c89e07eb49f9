#include <array>
#include <mutex>

#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/runtime.h"
#include "framework/kernels/cuda/stream.h"

namespace attn::cuda {

namespace {

constexpr int kMaxDevices = 16;

struct DeviceStreams {
  std::once_flag once;
  cudaStream_t compute = nullptr;
  cudaStream_t comm = nullptr;
};

DeviceStreams& streams_of_current_device() {
  static std::array<DeviceStreams, kMaxDevices> all;
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  if (device >= kMaxDevices)
    ATTN_FAIL(kInput, "CUDA device {} >= {} unsupported", device, kMaxDevices);
  DeviceStreams& s = all[device];
  // Never destroyed: process exit releases them, and kernels may still be queued at static
  // destruction time.
  std::call_once(s.once, [&] {
    CUDA_CHECK(cudaStreamCreateWithFlags(&s.compute, cudaStreamNonBlocking));
    CUDA_CHECK(cudaStreamCreateWithFlags(&s.comm, cudaStreamNonBlocking));
  });
  return s;
}

}  // namespace

cudaStream_t compute_stream() {
  return streams_of_current_device().compute;
}

cudaStream_t comm_stream() {
  return streams_of_current_device().comm;
}

bool built_with_cuda() {
  return true;
}

int device_count() {
  int n = 0;
  // No driver or no device is not an error here: the CPU backend still works.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

void set_device(int index) {
  CUDA_CHECK(cudaSetDevice(index));
}

void* device_malloc(size_t bytes) {
  if (device_count() == 0) ATTN_FAIL(kInput, "no CUDA device available");
  void* p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky OOM so the allocator can retry after releasing
    return nullptr;
  }
  return p;
}

void device_free(void* ptr) {
  CUDA_CHECK(cudaFree(ptr));
}

void memcpy(void* dst, const void* src, size_t bytes, CopyKind kind) {
  cudaMemcpyKind k = kind == CopyKind::kHostToDevice   ? cudaMemcpyHostToDevice
                     : kind == CopyKind::kDeviceToHost ? cudaMemcpyDeviceToHost
                                                       : cudaMemcpyDeviceToDevice;
  // Ordered after the kernels that produced src; the host sees finished data on return.
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, k, compute_stream()));
  CUDA_CHECK(cudaStreamSynchronize(compute_stream()));
}

void memset_zero(void* dst, size_t bytes) {
  CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, compute_stream()));
}

void synchronize() {
  CUDA_CHECK(cudaStreamSynchronize(compute_stream()));
  CUDA_CHECK(cudaStreamSynchronize(comm_stream()));
}

}  // namespace attn::cuda
