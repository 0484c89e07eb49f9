#include "layers/attention/ops/topk_gates.h"

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/ops/dispatch.h"
#include "layers/attention/kernels/topk_gates.h"

namespace attn {

TopkGates topk_gates(const Tensor& p, int64_t k) {
  ATTN_CHECK(p.ndim() == 2 && k >= 1 && k <= p.size(1), "topk_gates: p {}, k {}", p.str(), k);
  const bool on_gpu = p.device().is_cuda();
  ATTN_CHECK(!on_gpu || p.dtype() == DType::kF32, "topk_gates: CUDA is f32 only, got {}", p.str());
  const int64_t rows = p.size(0), cols = p.size(1);
  const Tensor mask = Tensor::empty(p.shape(), DType::kI32, p.device());
  TopkGates r{Tensor::empty(p.shape(), p.dtype(), p.device()),
              Tensor::empty({cols}, p.dtype(), p.device())};
  if (on_gpu) {
    cuda::topk_gates_forward(p.data<float>(), rows, cols, k, r.gates.data<float>(),
                             mask.data<int32_t>());
    cuda::topk_fraction(mask.data<int32_t>(), rows, cols, r.fraction.data<float>());
  } else {
    detail::dispatch_float(p, "topk_gates", [&](auto tag) {
      using T = decltype(tag);
      cpu::topk_gates_forward<T>(p.data<T>(), rows, cols, k, r.gates.data<T>(),
                                 mask.data<int32_t>());
      cpu::topk_fraction<T>(mask.data<int32_t>(), rows, cols, r.fraction.data<T>());
    });
  }
  if (!needs_grad({p})) return r;
  const Tensor g = r.gates;
  record("topk_gates", {g}, [p, mask, g, rows, cols, k, on_gpu] {
    if (on_gpu) {
      cuda::topk_gates_backward(p.data<float>(), mask.data<int32_t>(), g.data<float>(),
                                g.grad().data<float>(), rows, cols, k,
                                p.grad_or_zeros().data<float>());
      return;
    }
    detail::dispatch_float(p, "topk_gates", [&](auto tag) {
      using T = decltype(tag);
      cpu::topk_gates_backward<T>(p.data<T>(), mask.data<int32_t>(), g.data<T>(),
                                  g.grad().data<T>(), rows, cols, k, p.grad_or_zeros().data<T>());
    });
  });
  return r;
}

}  // namespace attn
