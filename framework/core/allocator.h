// Caching allocator for tensor memory, one cache per device. Freed blocks go to a free list keyed
// by a rounded size class and are reused by the next step, so large activations are not
// mmap'd, page-faulted and unmapped every step (a measured 2x cost with plain malloc on CPU).
#pragma once

#include <cstddef>

#include "framework/core/device.h"

namespace attn {

struct AllocatorStats {
  size_t bytes_in_use = 0;   // handed out to live tensors
  size_t bytes_cached = 0;   // held in free lists, ready for reuse
  size_t peak_in_use = 0;    // high-water mark of bytes_in_use
  size_t system_allocs = 0;  // calls that reached malloc / cudaMalloc
};

// Rounds a request up to its size class (64-byte granularity, <= 12.5% waste above 4 KiB).
size_t allocation_size_class(size_t bytes);

// Returns 64-byte aligned memory of at least `bytes` on `device`. Throws attn::Error when the
// system is out of memory even after the cache was released.
void* device_alloc(Device device, size_t bytes);
void device_free(Device device, void* ptr, size_t bytes);

AllocatorStats allocator_stats(Device device);
void reset_peak_stats(Device device);
// Returns every cached block to the system (malloc / cudaMalloc).
void release_cached(Device device);

}  // namespace attn
