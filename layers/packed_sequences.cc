#include "layers/packed_sequences.h"

#include "framework/core/error.h"

namespace attn {

DocumentBounds document_bounds(const Tensor& cu_seqlens, int64_t tokens, Device device,
                               const char* op) {
  ATTN_CHECK(cu_seqlens.defined() && cu_seqlens.dtype() == DType::kI32 && cu_seqlens.ndim() == 1,
             "{}: cu_seqlens must be i32 [docs + 1]", op);
  DocumentBounds d;
  d.host = cu_seqlens.to_vector<int32_t>();
  ATTN_CHECK(!d.host.empty() && d.host.front() == 0 && d.host.back() == tokens,
             "{}: cu_seqlens {} for {} tokens", op, cu_seqlens.str(), tokens);
  for (size_t b = 1; b < d.host.size(); ++b)
    ATTN_CHECK(d.host[b] >= d.host[b - 1], "{}: cu_seqlens decrease at {}", op, b);
  d.on_device = cu_seqlens.device() == device
                    ? cu_seqlens
                    : Tensor::from_vector<int32_t>({cu_seqlens.numel()}, d.host, device);
  return d;
}

}  // namespace attn
