#include <algorithm>

#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/rope.h"
#include "framework/kernels/cuda/stream.h"

namespace attn::cuda {

namespace {

// Block per token (grid-stride), thread per pair i: the angle is computed once, in double as on
// the CPU (long-context positions times small frequencies lose bits in f32), and reused for
// every head. Each thread reads and writes only its own pair, so out may alias x.
__global__ void rope_kernel(float* out, const float* x, const int32_t* pos, int64_t tokens,
                            int64_t heads, int64_t dim, double base, RopePairing pairing,
                            bool inverse, bool accumulate) {
  const int64_t half = dim / 2;
  for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
    for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
      const double inv_freq = pow(base, -2.0 * double(i) / double(dim));
      double sin_a, cos_a;
      sincos(double(pos[t]) * inv_freq, &sin_a, &cos_a);
      const float c = float(cos_a), s = float(inverse ? -sin_a : sin_a);
      const int64_t i0 = pairing == RopePairing::kHalf ? i : 2 * i;
      const int64_t i1 = pairing == RopePairing::kHalf ? i + half : 2 * i + 1;
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t row = (t * heads + h) * dim;
        const float a = x[row + i0], b = x[row + i1];
        // Products rounded before the sum (no fused multiply-add): the result does not depend on
        // the compiler's contraction choices.
        const float r0 = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
        const float r1 = __fadd_rn(__fmul_rn(a, s), __fmul_rn(b, c));
        if (accumulate) {
          out[row + i0] += r0;
          out[row + i1] += r1;
        } else {
          out[row + i0] = r0;
          out[row + i1] = r1;
        }
      }
    }
  }
}

}  // namespace

void rope_rotate(float* out, const float* x, const int32_t* pos, int64_t tokens, int64_t heads,
                 int64_t dim, double base, RopePairing pairing, bool inverse, bool accumulate) {
  const int64_t half = dim / 2;
  if (tokens == 0 || heads == 0 || half == 0) return;
  const int64_t threads = std::min<int64_t>(256, (half + 31) / 32 * 32);
  const int64_t blocks = std::min<int64_t>(tokens, 65535);
  rope_kernel<<<static_cast<unsigned>(blocks), static_cast<unsigned>(threads), 0,
                compute_stream()>>>(out, x, pos, tokens, heads, dim, base, pairing, inverse,
                                    accumulate);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace attn::cuda
