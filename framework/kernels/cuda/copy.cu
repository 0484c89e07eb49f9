#include <algorithm>
#include <type_traits>

#include "framework/kernels/cuda/copy.h"
#include "framework/kernels/cuda/pointwise.cuh"

namespace attn::cuda {

namespace {

constexpr int kTile = 32;     // a tile is kTile x kTile elements
constexpr int kTileRows = 8;  // a block is kTile x kTileRows threads; each moves 4 elements

template <typename T>
void copy_impl(T* dst, int64_t dst_stride, const T* src, int64_t src_stride, int64_t outer,
               int64_t len, bool accumulate) {
  if (outer == 0 || len == 0) return;
  if (accumulate) {
    if constexpr (std::is_same_v<T, float>) {
      launch_pointwise(outer * len, [=] __device__(int64_t i) {
        const int64_t o = i / len, j = i - o * len;
        dst[o * dst_stride + j] += src[o * src_stride + j];
      });
      return;
    }
    ATTN_FAIL(kInternal, "copy_blocks: accumulation is f32 only");
  }
  if (outer == 1 || (dst_stride == len && src_stride == len)) {  // one contiguous range
    CUDA_CHECK(cudaMemcpyAsync(dst, src, outer * len * sizeof(T), cudaMemcpyDeviceToDevice,
                               compute_stream()));
    return;
  }
  launch_pointwise(outer * len, [=] __device__(int64_t i) {
    const int64_t o = i / len, j = i - o * len;
    dst[o * dst_stride + j] = src[o * src_stride + j];
  });
}

// Tile t of the grid-stride loop is (batch b, row tile, column tile). Reads run along columns
// of x and writes along rows (the columns of out), both coalesced through the shared tile,
// padded by one column against bank conflicts.
template <typename T, bool kAccumulate>
__global__ void transpose_kernel(T* out, const T* x, int64_t batch, int64_t rows, int64_t cols) {
  __shared__ T tile[kTile][kTile + 1];
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  const int64_t tiles = batch * row_tiles * col_tiles;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t b = t / (row_tiles * col_tiles);
    const int64_t r0 = (t / col_tiles % row_tiles) * kTile, c0 = (t % col_tiles) * kTile;
    const T* xb = x + b * rows * cols;
    T* ob = out + b * rows * cols;
    for (int k = threadIdx.y; k < kTile; k += kTileRows) {  // tile[k][j] = x[r0 + k, c0 + j]
      const int64_t r = r0 + k, c = c0 + threadIdx.x;
      if (r < rows && c < cols) tile[k][threadIdx.x] = xb[r * cols + c];
    }
    __syncthreads();
    for (int k = threadIdx.y; k < kTile; k += kTileRows) {  // out[c0 + k, r0 + j] = tile[j][k]
      const int64_t c = c0 + k, r = r0 + threadIdx.x;
      if (r < rows && c < cols) {
        if constexpr (kAccumulate)
          ob[c * rows + r] += tile[threadIdx.x][k];
        else
          ob[c * rows + r] = tile[threadIdx.x][k];
      }
    }
    __syncthreads();  // the next tile overwrites `tile`
  }
}

template <typename T, bool kAccumulate>
void transpose_impl(T* out, const T* x, int64_t batch, int64_t rows, int64_t cols) {
  if (batch == 0 || rows == 0 || cols == 0) return;
  const int64_t tiles = batch * ((rows + kTile - 1) / kTile) * ((cols + kTile - 1) / kTile);
  const int64_t blocks = std::min<int64_t>(tiles, 65535);
  transpose_kernel<T, kAccumulate>
      <<<static_cast<unsigned>(blocks), dim3(kTile, kTileRows), 0, compute_stream()>>>(
          out, x, batch, rows, cols);
  CUDA_CHECK(cudaGetLastError());
}

// Calls f(T{}) with the unsigned integer type of elem_bytes bytes.
template <typename F>
void by_size(int64_t elem_bytes, const char* what, F&& f) {
  switch (elem_bytes) {
    case 2:
      return f(uint16_t{});
    case 4:
      return f(uint32_t{});
    case 8:
      return f(uint64_t{});
  }
  ATTN_FAIL(kInternal, "{}: unsupported element size {}", what, elem_bytes);
}

}  // namespace

void copy_blocks(float* dst, int64_t dst_stride, const float* src, int64_t src_stride,
                 int64_t outer, int64_t len, bool accumulate) {
  copy_impl(dst, dst_stride, src, src_stride, outer, len, accumulate);
}

void transpose_last2(float* out, const float* x, int64_t batch, int64_t rows, int64_t cols,
                     bool accumulate) {
  if (accumulate)
    transpose_impl<float, true>(out, x, batch, rows, cols);
  else
    transpose_impl<float, false>(out, x, batch, rows, cols);
}

void copy_blocks_raw(void* dst, int64_t dst_stride, const void* src, int64_t src_stride,
                     int64_t outer, int64_t len, int64_t elem_bytes) {
  by_size(elem_bytes, "copy_blocks_raw", [&](auto tag) {
    using T = decltype(tag);
    copy_impl(static_cast<T*>(dst), dst_stride, static_cast<const T*>(src), src_stride, outer, len,
              false);
  });
}

void transpose_last2_raw(void* out, const void* x, int64_t batch, int64_t rows, int64_t cols,
                         int64_t elem_bytes) {
  by_size(elem_bytes, "transpose_last2_raw", [&](auto tag) {
    using T = decltype(tag);
    transpose_impl<T, false>(static_cast<T*>(out), static_cast<const T*>(x), batch, rows, cols);
  });
}

}  // namespace attn::cuda
