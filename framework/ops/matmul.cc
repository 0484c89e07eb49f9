#include "framework/ops/matmul.h"

#include "framework/autograd/tape.h"
#include "framework/kernels/cpu/gemm.h"
#include "framework/ops/dispatch.h"

namespace attn {

namespace {

struct Dims {
  int64_t batch, m, n, k;
};

// C = op(A) op(B) over `batch` matrices (stride 0 for a shared B); backward of each operand is
// another product: with C = A B, dA = dC B^T and dB = A^T dC, and the transposed cases follow by
// swapping roles. All gradient products accumulate (beta = 1).
Tensor product(const char* name, const Tensor& a, const Tensor& b, bool ta, bool tb, Dims d,
               int64_t stride_b, Shape out_shape) {
  detail::check_cpu(name, {a, b});
  detail::check_same_dtype(name, {a, b});
  Tensor c = Tensor::empty(out_shape, a.dtype(), a.device());
  const int64_t sa = d.m * d.k, sc = d.m * d.n;
  detail::dispatch_float(a, name, [&](auto tag) {
    using T = decltype(tag);
    cpu::gemm_batched<T>(d.batch, ta, tb, d.m, d.n, d.k, T(1), a.data<T>(), sa, b.data<T>(),
                         stride_b, T(0), c.data<T>(), sc);
  });
  if (!needs_grad({a, b})) return c;
  record(name, {c}, [a, b, c, ta, tb, d, stride_b, sa, sc, name] {
    Tensor dc = c.grad();
    detail::dispatch_float(a, name, [&](auto tag) {
      using T = decltype(tag);
      if (Tensor da = grad_target(a); da.defined()) {
        // dA = dC op(B)^T, laid out like A (transposed when ta).
        if (!ta)
          cpu::gemm_batched<T>(d.batch, false, !tb, d.m, d.k, d.n, T(1), dc.data<T>(), sc,
                               b.data<T>(), stride_b, T(1), da.data<T>(), sa);
        else
          cpu::gemm_batched<T>(d.batch, tb, true, d.k, d.m, d.n, T(1), b.data<T>(), stride_b,
                               dc.data<T>(), sc, T(1), da.data<T>(), sa);
      }
      if (Tensor db = grad_target(b); db.defined()) {
        // dB = op(A)^T dC, laid out like B. A shared B (stride 0) sums over the batch, which
        // here is one product over the flattened rows.
        int64_t batch = stride_b == 0 ? 1 : d.batch;
        int64_t rows = stride_b == 0 ? d.batch * d.m : d.m;
        if (!tb)
          cpu::gemm_batched<T>(batch, !ta, false, d.k, d.n, rows, T(1), a.data<T>(), sa,
                               dc.data<T>(), sc, T(1), db.data<T>(), stride_b);
        else
          cpu::gemm_batched<T>(batch, true, ta, d.n, d.k, rows, T(1), dc.data<T>(), sc, a.data<T>(),
                               sa, T(1), db.data<T>(), stride_b);
      }
    });
  });
  return c;
}

}  // namespace

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
