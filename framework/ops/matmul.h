// Differentiable matrix products. matmul: a [..., m, k] x b [k, n] with a's leading dimensions
// flattened (linear layers); bmm: batched products with identical leading dimensions.
#pragma once

#include "framework/core/tensor.h"
#include "framework/kernels/cuda/gemm.h"

namespace attn {

// a [..., m, k] (trans_a: a is 2-D [k, m]); b [k, n] (trans_b: [n, k]) -> [..., m, n].
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// a [B..., m, k] (trans_a: [B..., k, m]); b [B..., k, n] (trans_b: [B..., n, k]) -> [B..., m, n].
Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// Precision of matmul / bmm on CUDA tensors (process-wide; default kF32). CPU products always
// run in the tensors' own dtype. kBf16 is autocast-style mixed precision: parameters, outputs
// and gradients stay f32; only the inputs of each product are rounded to bf16 copies, which
// the backward products also use (with a bf16 copy of dC). A node keeps the precision that
// was set when its forward ran.
void set_cuda_matmul_precision(MatmulPrecision precision);
MatmulPrecision cuda_matmul_precision();

// Sets the CUDA matmul precision for its lifetime and restores the previous one.
class CudaMatmulPrecisionScope {
 public:
  explicit CudaMatmulPrecisionScope(MatmulPrecision precision);
  ~CudaMatmulPrecisionScope();
  CudaMatmulPrecisionScope(const CudaMatmulPrecisionScope&) = delete;
  CudaMatmulPrecisionScope& operator=(const CudaMatmulPrecisionScope&) = delete;

 private:
  MatmulPrecision previous_;
};

}  // namespace attn
