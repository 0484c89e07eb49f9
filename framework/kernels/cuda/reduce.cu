#include <algorithm>

#include "framework/kernels/cuda/block_reduce.cuh"
#include "framework/kernels/cuda/pointwise.cuh"
#include "framework/kernels/cuda/reduce.h"

namespace attn::cuda {

namespace {

// Elements of a row one block sums in the first pass of row sums (inner == 1).
constexpr int64_t kRowChunk = 8192;
// Rows one thread sums in the first pass of column sums (inner > 1): enough threads for a GPU
// even when outer * inner is small (the bias gradient), short serial loops otherwise.
constexpr int64_t kColumnChunk = 128;
constexpr int64_t kMaxBlocks = 65535;

int64_t chunks_of(int64_t n, int64_t chunk) {
  return n <= chunk ? 1 : (n + chunk - 1) / chunk;
}

// Block b sums x[r, c * chunk + j] for j < chunk (clipped to len), r = b / chunks,
// c = b % chunks, into out[b] (out holds rows * chunks values): alpha * sum, plus the old
// out[b] when accumulating.
__global__ void row_sum_kernel(float* out, const float* x, int64_t rows, int64_t len,
                               int64_t chunks, int64_t chunk, float alpha, bool accumulate) {
  for (int64_t b = blockIdx.x; b < rows * chunks; b += gridDim.x) {
    const int64_t r = b / chunks, begin = (b % chunks) * chunk;
    const int64_t end = begin + chunk < len ? begin + chunk : len;
    const float* xr = x + r * len;
    float acc = 0.0f;
    for (int64_t j = begin + threadIdx.x; j < end; j += block_reduce::kFixedReduceThreads)
      acc += xr[j];
    const float total = block_reduce::block_sum(acc);
    if (threadIdx.x == 0) out[b] = accumulate ? out[b] + alpha * total : alpha * total;
  }
}

void row_sum(float* out, const float* x, int64_t rows, int64_t len, int64_t chunks, int64_t chunk,
             float alpha, bool accumulate) {
  const int64_t blocks = std::min(rows * chunks, kMaxBlocks);
  row_sum_kernel<<<static_cast<unsigned>(blocks), block_reduce::kFixedReduceThreads, 0,
                   compute_stream()>>>(out, x, rows, len, chunks, chunk, alpha, accumulate);
  CUDA_CHECK(cudaGetLastError());
}

// Thread (o, c, i) sums rows [c * chunk, (c + 1) * chunk) (clipped to n) of column i of slice
// o of x [outer, n, inner], in row order, into out[(o * chunks + c) * inner + i].
void column_sum(float* out, const float* x, int64_t outer, int64_t n, int64_t inner, int64_t chunks,
                int64_t chunk, float alpha, bool accumulate) {
  launch_pointwise(outer * chunks * inner, [=] __device__(int64_t idx) {
    const int64_t i = idx % inner, oc = idx / inner;
    const int64_t c = oc % chunks, o = oc / chunks;
    const int64_t r0 = c * chunk, r1 = r0 + chunk < n ? r0 + chunk : n;
    const float* xc = x + o * n * inner + i;
    float acc = 0.0f;
    for (int64_t r = r0; r < r1; ++r) acc += xc[r * inner];
    out[idx] = accumulate ? out[idx] + alpha * acc : alpha * acc;
  });
}

}  // namespace

int64_t sum_axis_scratch(int64_t outer, int64_t n, int64_t inner) {
  if (inner == 1) {
    const int64_t chunks = chunks_of(n, kRowChunk);
    return chunks > 1 ? outer * chunks : 0;
  }
  const int64_t chunks = chunks_of(n, kColumnChunk);
  return chunks > 1 ? outer * chunks * inner : 0;
}

void sum_axis(float* out, const float* x, int64_t outer, int64_t n, int64_t inner, float alpha,
              bool accumulate, float* scratch) {
  if (outer == 0 || inner == 0) return;
  if (inner == 1) {
    const int64_t chunks = chunks_of(n, kRowChunk);
    if (chunks == 1) return row_sum(out, x, outer, n, 1, n, alpha, accumulate);
    if (scratch == nullptr) ATTN_FAIL(kInternal, "sum_axis: scratch missing for {} rows", n);
    row_sum(scratch, x, outer, n, chunks, kRowChunk, 1.0f, false);  // [outer, chunks]
    return row_sum(out, scratch, outer, chunks, 1, chunks, alpha, accumulate);
  }
  const int64_t chunks = chunks_of(n, kColumnChunk);
  if (chunks == 1) return column_sum(out, x, outer, n, inner, 1, n, alpha, accumulate);
  if (scratch == nullptr) ATTN_FAIL(kInternal, "sum_axis: scratch missing for {} rows", n);
  column_sum(scratch, x, outer, n, inner, chunks, kColumnChunk, 1.0f,
             false);  // [outer, chunks, inner]
  column_sum(out, scratch, outer, chunks, inner, 1, chunks, alpha, accumulate);
}

void broadcast_axis_accumulate(float* dx, const float* dout, int64_t outer, int64_t n,
                               int64_t inner, float alpha) {
  const int64_t slice = n * inner;
  launch_pointwise(outer * slice, [=] __device__(int64_t idx) {
    dx[idx] += alpha * dout[(idx / slice) * inner + idx % inner];
  });
}

}  // namespace attn::cuda
