#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/runtime.h"

namespace attn::cuda {

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
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, k));
}

void memset_zero(void* dst, size_t bytes) {
  CUDA_CHECK(cudaMemset(dst, 0, bytes));
}
void synchronize() {
  CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace attn::cuda
