#include "framework/ops/matmul.h"

#include <atomic>

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/gemm.h"
#include "framework/kernels/cuda/cast.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {

std::atomic<MatmulPrecision> g_cuda_precision{MatmulPrecision::kF32};

struct Dims {
  int64_t batch, m, n, k;
};

// The tensor a CUDA product reads for input `t`: t itself, or under kBf16 a bf16 copy (the
// autocast step). CPU tensors are always used as they are.
Tensor operand(const Tensor& t, MatmulPrecision p) {
  if (!t.device().is_cuda() || p != MatmulPrecision::kBf16) return t;
  Tensor h = Tensor::empty(t.shape(), DType::kBF16, t.device());
  cuda::cast_f32_to_bf16(h.data<uint16_t>(), t.data<float>(), t.numel());
  return h;
}

// C = op(A) op(B) + beta C over `batch` matrices, on the backend holding the tensors. On CUDA,
// a and b are f32 or (kBf16) their bf16 operand() copies; c is f32.
void gemm(const char* name, MatmulPrecision p, int64_t batch, bool ta, bool tb, int64_t m,
          int64_t n, int64_t k, const Tensor& a, int64_t sa, const Tensor& b, int64_t sb,
          double beta, const Tensor& c, int64_t sc) {
  if (c.device().is_cuda()) {
    cuda::gemm_batched(batch, ta, tb, m, n, k, 1.0f, a.raw(), sa, b.raw(), sb,
                       static_cast<float>(beta), c.data<float>(), sc, p);
    return;
  }
  detail::dispatch_float(c, name, [&](auto tag) {
    using T = decltype(tag);
    cpu::gemm_batched<T>(batch, ta, tb, m, n, k, T(1), a.data<T>(), sa, b.data<T>(), sb, T(beta),
                         c.data<T>(), sc);
  });
}

// C = op(A) op(B) over `batch` matrices (stride 0 for a shared B); backward of each operand is
// another product: with C = A B, dA = dC B^T and dB = A^T dC, and the transposed cases follow by
// swapping roles. All gradient products accumulate (beta = 1). On CUDA the precision in force
// at the forward is captured, so forward and backward products agree.
Tensor product(const char* name, const Tensor& a, const Tensor& b, bool ta, bool tb, Dims d,
               int64_t stride_b, Shape out_shape) {
  detail::check_same_device(name, {a, b});
  detail::check_same_dtype(name, {a, b});
  const bool on_gpu = a.device().is_cuda();
  ATTN_CHECK(!on_gpu || a.dtype() == DType::kF32, "{}: CUDA matrix products are f32 only, got {}",
             name, a.str());
  const MatmulPrecision p = on_gpu ? cuda_matmul_precision() : MatmulPrecision::kF32;
  Tensor c = Tensor::empty(out_shape, a.dtype(), a.device());
  const int64_t sa = d.m * d.k, sc = d.m * d.n;
  // Under kBf16 only these copies are read, forward and backward; a and b remain the
  // gradient targets.
  const Tensor xa = operand(a, p), xb = operand(b, p);
  gemm(name, p, d.batch, ta, tb, d.m, d.n, d.k, xa, sa, xb, stride_b, 0.0, c, sc);
  if (!needs_grad({a, b})) return c;
  record(name, {c}, [a, b, xa, xb, c, ta, tb, d, stride_b, sa, sc, name, p] {
    const Tensor dc = operand(c.grad(), p);
    if (Tensor da = grad_target(a); da.defined()) {
      // dA = dC op(B)^T, laid out like A (transposed when ta).
      if (!ta)
        gemm(name, p, d.batch, false, !tb, d.m, d.k, d.n, dc, sc, xb, stride_b, 1.0, da, sa);
      else
        gemm(name, p, d.batch, tb, true, d.k, d.m, d.n, xb, stride_b, dc, sc, 1.0, da, sa);
    }
    if (Tensor db = grad_target(b); db.defined()) {
      // dB = op(A)^T dC, laid out like B. A shared B (stride 0) sums over the batch, which
      // here is one product over the flattened rows.
      int64_t batch = stride_b == 0 ? 1 : d.batch;
      int64_t rows = stride_b == 0 ? d.batch * d.m : d.m;
      if (!tb)
        gemm(name, p, batch, !ta, false, d.k, d.n, rows, xa, sa, dc, sc, 1.0, db, stride_b);
      else
        gemm(name, p, batch, true, ta, d.n, d.k, rows, dc, sc, xa, sa, 1.0, db, stride_b);
    }
  });
  return c;
}

}  // namespace

void set_cuda_matmul_precision(MatmulPrecision precision) {
  g_cuda_precision.store(precision);
}

MatmulPrecision cuda_matmul_precision() {
  return g_cuda_precision.load();
}

CudaMatmulPrecisionScope::CudaMatmulPrecisionScope(MatmulPrecision precision)
    : previous_(cuda_matmul_precision()) {
  set_cuda_matmul_precision(precision);
}

CudaMatmulPrecisionScope::~CudaMatmulPrecisionScope() {
  set_cuda_matmul_precision(previous_);
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  ATTN_CHECK(b.ndim() == 2, "matmul: b must be 2-D, got {}", b.str());
  ATTN_CHECK(a.ndim() >= 1 + !trans_a + trans_a, "matmul: a is {}", a.str());
  ATTN_CHECK(!trans_a || a.ndim() == 2, "matmul: trans_a needs a 2-D a, got {}", a.str());
  int64_t k = trans_a ? a.size(0) : a.size(-1);
  int64_t m = trans_a ? a.size(1) : a.shape().prod(0, a.ndim() - 1);
  int64_t kb = trans_b ? b.size(1) : b.size(0);
  int64_t n = trans_b ? b.size(0) : b.size(1);
  ATTN_CHECK(k == kb, "matmul: inner dimensions differ: {}{} x {}{}", a.str(), trans_a ? "^T" : "",
             b.str(), trans_b ? "^T" : "");
  std::vector<int64_t> out = a.shape().vec();
  if (trans_a)
    out = {m, n};
  else
    out.back() = n;
  // Flattened rows make one GEMM of [rows, k] x [k, n]; dB then sums over all rows at once.
  return product("matmul", a, b, trans_a, trans_b, {1, m, n, k}, 0, Shape(out));
}

Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  ATTN_CHECK(a.ndim() >= 3 && a.ndim() == b.ndim(), "bmm: needs equal ranks >= 3: {} and {}",
             a.str(), b.str());
  for (int i = 0; i < a.ndim() - 2; ++i)
    ATTN_CHECK(a.size(i) == b.size(i), "bmm: batch dims differ: {} and {}", a.str(), b.str());
  int64_t batch = a.shape().prod(0, a.ndim() - 2);
  int64_t m = trans_a ? a.size(-1) : a.size(-2), k = trans_a ? a.size(-2) : a.size(-1);
  int64_t kb = trans_b ? b.size(-1) : b.size(-2), n = trans_b ? b.size(-2) : b.size(-1);
  ATTN_CHECK(k == kb, "bmm: inner dimensions differ: {} and {}", a.str(), b.str());
  std::vector<int64_t> out = a.shape().vec();
  out[a.ndim() - 2] = m;
  out[a.ndim() - 1] = n;
  return product("bmm", a, b, trans_a, trans_b, {batch, m, n, k}, k * n, Shape(out));
}

}  // namespace attn
