#include "framework/core/storage.h"

#include "framework/core/allocator.h"

namespace attn {

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = device_alloc(device, bytes);
}

Storage::~Storage() {
  device_free(device_, data_, bytes_);
}

}  // namespace attn
