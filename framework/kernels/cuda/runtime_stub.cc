// Built when nvcc is absent: every entry point reports that CUDA is unavailable.
#include "framework/core/error.h"
#include "framework/kernels/cuda/runtime.h"

namespace attn::cuda {

namespace {
[[noreturn]] void unavailable() {
  ATTN_FAIL(kInput, "this attnlab binary was built without CUDA (nvcc not found at configure)");
}
}  // namespace

bool built_with_cuda() {
  return false;
}
int device_count() {
  return 0;
}
void set_device(int) {
  unavailable();
}
void* device_malloc(size_t) {
  unavailable();
}
void device_free(void*) {
  unavailable();
}
void memcpy(void*, const void*, size_t, CopyKind) {
  unavailable();
}
void memset_zero(void*, size_t) {
  unavailable();
}
void synchronize() {
  unavailable();
}

}  // namespace attn::cuda
