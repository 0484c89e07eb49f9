#include "framework/core/tensor.h"

#include <cstring>

#include "framework/core/bf16.h"
#include "framework/kernels/cuda/runtime.h"

namespace attn {

namespace {

std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype, Device device) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->device = device;
  impl->storage = std::make_shared<Storage>(shape.numel() * dtype_size(dtype), device);
  return impl;
}

// Reads element i of a host buffer of dtype t as double.
double load_as_double(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::kF32:
      return static_cast<const float*>(p)[i];
    case DType::kF64:
      return static_cast<const double*>(p)[i];
    case DType::kBF16:
      return bf16_to_float(static_cast<const uint16_t*>(p)[i]);
    case DType::kI32:
      return static_cast<const int32_t*>(p)[i];
    case DType::kI64:
      return static_cast<double>(static_cast<const int64_t*>(p)[i]);
  }
  return 0;
}

void store_from_double(void* p, DType t, int64_t i, double v) {
  switch (t) {
    case DType::kF32:
      static_cast<float*>(p)[i] = static_cast<float>(v);
      break;
    case DType::kF64:
      static_cast<double*>(p)[i] = v;
      break;
    case DType::kBF16:
      static_cast<uint16_t*>(p)[i] = float_to_bf16(static_cast<float>(v));
      break;
    case DType::kI32:
      static_cast<int32_t*>(p)[i] = static_cast<int32_t>(v);
      break;
    case DType::kI64:
      static_cast<int64_t*>(p)[i] = static_cast<int64_t>(v);
      break;
  }
}

cuda::CopyKind copy_kind(Device dst, Device src) {
  if (src.is_cpu()) return cuda::CopyKind::kHostToDevice;
  return dst.is_cpu() ? cuda::CopyKind::kDeviceToHost : cuda::CopyKind::kDeviceToDevice;
}

}  // namespace

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32:
      return "f32";
    case DType::kF64:
      return "f64";
    case DType::kBF16:
      return "bf16";
    case DType::kI32:
      return "i32";
    case DType::kI64:
      return "i64";
  }
  return "?";
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return Tensor(make_impl(shape, dtype, device));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero_();
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

template <typename T>
Tensor Tensor::from_vector(const Shape& shape, const std::vector<T>& values, Device device) {
  ATTN_CHECK(static_cast<int64_t>(values.size()) == shape.numel(), "{} values for shape {}",
             values.size(), shape.str());
  Tensor host = empty(shape, dtype_of<T>, Device::cpu());
  if (!values.empty()) std::memcpy(host.raw(), values.data(), values.size() * sizeof(T));
  return device.is_cpu() ? host : host.to(device);
}

TensorImpl& Tensor::impl() const {
  ATTN_CHECK(impl_ != nullptr, "use of an undefined tensor");
  return *impl_;
}

std::string Tensor::str() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape().str() + " on " + device().str();
}

void* Tensor::raw() const {
  const TensorImpl& t = impl();
  ATTN_CHECK(t.storage != nullptr,
             "tensor '{}' has no memory (parameter used before "
             "ParamStore::finalize()?)",
             t.name);
  return static_cast<char*>(t.storage->data()) + t.offset * dtype_size(t.dtype);
}

template <typename T>
T* Tensor::data() const {
  ATTN_CHECK(dtype() == dtype_of<T>, "tensor {} accessed as {}", str(), dtype_name(dtype_of<T>));
  return static_cast<T*>(raw());
}

Tensor Tensor::view(const Shape& shape) const {
  ATTN_CHECK(shape.numel() == numel(), "cannot view {} as {}", str(), shape.str());
  auto v = std::make_shared<TensorImpl>(impl());
  v->shape = shape;
  v->requires_grad = false;
  v->is_leaf = true;
  v->grad.reset();
  return Tensor(v);
}

Tensor Tensor::slice0(int64_t begin, int64_t end) const {
  ATTN_CHECK(ndim() >= 1 && 0 <= begin && begin <= end && end <= size(0), "slice0 [{}, {}) of {}",
             begin, end, str());
  Tensor v = view(shape());
  v.impl().offset += begin * shape().prod(1, ndim());
  v.impl().shape[0] = end - begin;
  return v;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape(), dtype(), device());
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor t = empty(shape(), dtype(), device);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  ATTN_CHECK(device().is_cpu(), "dtype conversion of {} is CPU-only", str());
  Tensor t = empty(shape(), dt, device());
  const void* src = raw();
  void* dst = t.raw();
  for (int64_t i = 0, n = numel(); i < n; ++i)
    store_from_double(dst, dt, i, load_as_double(src, dtype(), i));
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  ATTN_CHECK(src.shape() == shape() && src.dtype() == dtype(), "copy {} into {}", src.str(), str());
  if (nbytes() == 0) return;
  if (device().is_cpu() && src.device().is_cpu()) {
    std::memcpy(raw(), src.raw(), nbytes());
  } else {
    cuda::memcpy(raw(), src.raw(), nbytes(), copy_kind(device(), src.device()));
  }
}

void Tensor::zero_() {
  if (nbytes() == 0) return;
  if (device().is_cpu()) {
    std::memset(raw(), 0, nbytes());
  } else {
    cuda::memset_zero(raw(), nbytes());
  }
}

void Tensor::fill_(double value) {
  if (value == 0.0) return zero_();
  Tensor host = device().is_cpu() ? *this : empty(shape(), dtype(), Device::cpu());
  void* p = host.raw();
  for (int64_t i = 0, n = numel(); i < n; ++i) store_from_double(p, dtype(), i, value);
  if (!device().is_cpu()) copy_from(host);
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = to(Device::cpu());
  std::vector<T> out(numel());
  const void* p = host.raw();
  for (int64_t i = 0; i < numel(); ++i) out[i] = static_cast<T>(load_as_double(p, dtype(), i));
  return out;
}

double Tensor::item() const {
  ATTN_CHECK(numel() == 1, "item() of {} (needs exactly one element)", str());
  return to_vector<double>()[0];
}

Tensor& Tensor::set_requires_grad(bool on) {
  ATTN_CHECK(!on || is_floating(dtype()), "integer tensor {} cannot require grad", str());
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad_or_zeros() const {
  TensorImpl& t = impl();
  ATTN_CHECK(!t.grad_frozen,
             "gradient of '{}' written after it was sent for reduction: an op reads it without "
             "passing it to needs_grad()",
             t.name);
  if (!t.grad) t.grad = zeros(t.shape, t.dtype, t.device).impl_ptr();
  return Tensor(t.grad);
}

void Tensor::set_grad(const Tensor& g) {
  ATTN_CHECK(!g.defined() || (g.shape() == shape() && g.dtype() == dtype()),
             "gradient {} for tensor {}", g.str(), str());
  impl().grad = g.impl_ptr();
}

#define ATTN_INSTANTIATE(T)                                                            \
  template Tensor Tensor::from_vector<T>(const Shape&, const std::vector<T>&, Device); \
  template T* Tensor::data<T>() const;                                                 \
  template std::vector<T> Tensor::to_vector<T>() const;
ATTN_INSTANTIATE(float)
ATTN_INSTANTIATE(double)
ATTN_INSTANTIATE(int32_t)
ATTN_INSTANTIATE(int64_t)
template uint16_t* Tensor::data<uint16_t>() const;
#undef ATTN_INSTANTIATE

}  // namespace attn
