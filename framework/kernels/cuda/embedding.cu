#include "framework/kernels/cuda/embedding.h"
#include "framework/kernels/cuda/pointwise.cuh"

namespace attn::cuda {

namespace {

template <typename I>
void gather(float* out, const I* ids, const float* table, int64_t n, int64_t dim) {
  launch_pointwise(n * dim, [=] __device__(int64_t i) {
    const int64_t t = i / dim;
    out[i] = table[static_cast<int64_t>(ids[t]) * dim + (i - t * dim)];
  });
}

}  // namespace

void embedding_forward(float* out, const int32_t* ids, const float* table, int64_t n, int64_t dim) {
  gather(out, ids, table, n, dim);
}

void embedding_forward(float* out, const int64_t* ids, const float* table, int64_t n, int64_t dim) {
  gather(out, ids, table, n, dim);
}

// One thread per (segment, column): segments own distinct rows of dtable, so no two threads
// write the same element; neighbouring threads read neighbouring columns (coalesced).
void embedding_backward(float* dtable, const float* dout, const int64_t* order,
                        const int64_t* segment_ids, const int64_t* segment_starts, int64_t segments,
                        int64_t dim) {
  launch_pointwise(segments * dim, [=] __device__(int64_t i) {
    const int64_t s = i / dim, c = i - s * dim;
    float* dst = dtable + segment_ids[s] * dim + c;
    float acc = *dst;
    for (int64_t k = segment_starts[s]; k < segment_starts[s + 1]; ++k)
      acc += dout[order[k] * dim + c];
    *dst = acc;
  });
}

}  // namespace attn::cuda
