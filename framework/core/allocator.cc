#include "framework/core/allocator.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "framework/core/error.h"
#include "framework/kernels/cuda/runtime.h"

namespace attn {

size_t allocation_size_class(size_t bytes) {
  bytes = std::max<size_t>(bytes, 64);
  if (bytes <= 4096) return (bytes + 63) & ~size_t{63};
  // Eight classes per power of two keep the waste below 12.5%.
  size_t top = std::bit_floor(bytes);
  size_t step = top / 8;
  return (bytes + step - 1) / step * step;
}

namespace {

class CachingAllocator {
 public:
  using RawAlloc = void* (*)(size_t);
  using RawFree = void (*)(void*);
  CachingAllocator(RawAlloc a, RawFree f) : raw_alloc_(a), raw_free_(f) {}

  void* alloc(size_t bytes) {
    size_t cls = allocation_size_class(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    void* p = nullptr;
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= cls;
    } else {
      p = raw_alloc_(cls);
      if (!p) {  // Out of memory: give the cache back and try once more.
        release_locked();
        p = raw_alloc_(cls);
      }
      if (!p) ATTN_FAIL(kInternal, "out of memory allocating {} bytes", cls);
      ++stats_.system_allocs;
    }
    stats_.bytes_in_use += cls;
    stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.bytes_in_use);
    return p;
  }

  void free(void* p, size_t bytes) {
    if (!p) return;
    size_t cls = allocation_size_class(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    free_[cls].push_back(p);
    stats_.bytes_in_use -= cls;
    stats_.bytes_cached += cls;
  }

  AllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.peak_in_use = stats_.bytes_in_use;
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    release_locked();
  }

 private:
  void release_locked() {
    for (auto& [cls, list] : free_) {
      for (void* p : list) raw_free_(p);
      stats_.bytes_cached -= cls * list.size();
      list.clear();
    }
  }

  RawAlloc raw_alloc_;
  RawFree raw_free_;
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
};

void* host_alloc(size_t bytes) {
  return std::aligned_alloc(64, bytes);
}
void host_free(void* p) {
  std::free(p);
}

CachingAllocator& allocator_for(Device d) {
  // Leaked on purpose: tensors held in static objects may be freed after static destruction.
  // One cache per GPU; its blocks come from cudaMalloc on the current device, which is this
  // rank's GPU (one GPU per process, made current before the first CUDA tensor).
  constexpr int kMaxGpus = 16;
  static auto* host = new CachingAllocator(host_alloc, host_free);
  static auto* gpus = [] {
    auto* a = new std::vector<CachingAllocator*>();
    for (int i = 0; i < kMaxGpus; ++i)
      a->push_back(new CachingAllocator(cuda::device_malloc, cuda::device_free));
    return a;
  }();
  if (d.is_cpu()) return *host;
  ATTN_CHECK(d.index >= 0 && d.index < kMaxGpus, "device {}: at most {} GPUs per machine", d.str(),
             kMaxGpus);
  return *(*gpus)[d.index];
}

}  // namespace

void* device_alloc(Device d, size_t bytes) {
  return allocator_for(d).alloc(bytes);
}
void device_free(Device d, void* p, size_t bytes) {
  allocator_for(d).free(p, bytes);
}
AllocatorStats allocator_stats(Device d) {
  return allocator_for(d).stats();
}
void reset_peak_stats(Device d) {
  allocator_for(d).reset_peak();
}
void release_cached(Device d) {
  allocator_for(d).release();
}

}  // namespace attn
