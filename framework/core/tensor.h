// Dense, row-major, contiguous tensor: a shared handle to (storage, element offset, shape, dtype).
// Copies of a Tensor alias the same data and the same autograd state (requires_grad, grad).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "framework/core/dtype.h"
#include "framework/core/error.h"
#include "framework/core/shape.h"
#include "framework/core/storage.h"

namespace attn {

struct TensorImpl {
  std::shared_ptr<Storage> storage;  // null for parameters declared but not yet allocated
  int64_t offset = 0;                // in elements
  Shape shape;
  DType dtype = DType::kF32;
  Device device;
  std::string name;  // parameters and debug only

  // Autograd state. A leaf is a tensor not produced by a recorded op (inputs, parameters).
  bool requires_grad = false;
  bool is_leaf = true;
  std::shared_ptr<TensorImpl>
      grad;  // same shape/dtype/device; parameters: a view of the flat grad buffer
  // Set while the gradient is handed to a collective (data parallel): backward must not
  // accumulate into it any more, and grad_or_zeros() fails loudly if an op tries.
  bool grad_frozen = false;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Uninitialised / zero-filled / constant-filled new tensors.
  static Tensor empty(const Shape& shape, DType dtype = DType::kF32, Device device = {});
  static Tensor zeros(const Shape& shape, DType dtype = DType::kF32, Device device = {});
  static Tensor full(const Shape& shape, double value, DType dtype = DType::kF32,
                     Device device = {});
  // Copies host values; T decides the dtype (float, double, int32_t, int64_t).
  template <typename T>
  static Tensor from_vector(const Shape& shape, const std::vector<T>& values, Device device = {});

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int ndim() const { return impl().shape.ndim(); }
  int64_t size(int axis) const { return impl().shape[axis]; }
  int64_t numel() const { return impl().shape.numel(); }
  size_t nbytes() const { return numel() * dtype_size(dtype()); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().device; }
  const std::string& name() const { return impl().name; }
  std::string str() const;  // "f32[2, 3] on cpu"

  // Typed element pointer; checks the dtype matches T.
  template <typename T>
  T* data() const;
  void* raw() const;

  // Views sharing storage. No autograd: ops/shape.h has the differentiable versions.
  Tensor view(const Shape& shape) const;
  Tensor slice0(int64_t begin, int64_t end) const;  // rows [begin, end) of dimension 0

  // Deep copies.
  Tensor clone() const;
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;       // CPU only: float <-> double <-> ints
  void copy_from(const Tensor& src);  // same shape and dtype, any devices
  void zero_();
  void fill_(double value);

  // Host copy of the values as T (converting), for tests, logging and I/O.
  template <typename T>
  std::vector<T> to_vector() const;
  double item() const;  // single-element tensors

  // Autograd.
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool on = true);
  bool is_leaf() const { return impl().is_leaf; }
  Tensor grad() const { return Tensor(impl().grad); }
  bool has_grad() const { return impl().grad != nullptr; }
  // The gradient buffer, created zero-filled on first use.
  Tensor grad_or_zeros() const;
  void set_grad(const Tensor& g);

  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same_as(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A kernel's optional pointer argument: the data of t, or null when t is undefined.
template <typename T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace attn
