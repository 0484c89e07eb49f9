// A ref-counted block of device memory. Tensors share a Storage and differ by offset and shape,
// which makes first-dimension slices and reshapes free views.
#pragma once

#include <cstddef>
#include <memory>

#include "framework/core/device.h"

namespace attn {

class Storage {
 public:
  // Allocates through the caching allocator of `device`. Contents are uninitialised.
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

}  // namespace attn
