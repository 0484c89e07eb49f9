#include "framework/core/param_store.h"

#include <numeric>

#include "framework/rng/philox.h"

namespace attn {

ParamStore::ParamStore(DType dtype, Device device) : dtype_(dtype), device_(device) {
  ATTN_CHECK(is_floating(dtype), "parameters must be floating point, got {}", dtype_name(dtype));
}

Tensor ParamStore::declare(const std::string& name, const Shape& shape, ParamInit init,
                           bool weight_decay) {
  ATTN_CHECK(!finalized_, "parameter '{}' declared after finalize()", name);
  for (const ParamInfo& p : params_) ATTN_CHECK(p.name != name, "duplicate parameter '{}'", name);
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype_;
  impl->device = device_;
  impl->name = name;
  impl->requires_grad = true;
  params_.push_back({name, Tensor(impl), 0, init, weight_decay});
  return params_.back().tensor;
}

Tensor ParamStore::declare_buffer(const std::string& name, const Shape& shape, ParamInit init) {
  Tensor t = declare(name, shape, init, false);
  t.set_requires_grad(false);
  params_.back().trainable = false;
  return t;
}

int64_t ParamStore::num_trainable() const {
  int64_t n = 0;
  for (const ParamInfo& p : params_)
    if (p.updated()) n += p.tensor.numel();
  return n;
}

void ParamStore::freeze(const std::string& name) {
  for (ParamInfo& p : params_)
    if (p.name == name) {
      ATTN_CHECK(p.trainable, "'{}' is a buffer, not a parameter: it cannot be frozen", name);
      p.frozen = true;
      p.tensor.set_requires_grad(false);
      return;
    }
  ATTN_FAIL(kInput, "no parameter named '{}'", name);
}

void ParamStore::finalize(int64_t pad_multiple) {
  ATTN_CHECK(!finalized_, "finalize() called twice");
  ATTN_CHECK(pad_multiple > 0, "pad_multiple {}", pad_multiple);
  int64_t offset = 0;
  used_ = 0;
  for (ParamInfo& p : params_) {
    offset = (offset + kAlign - 1) / kAlign * kAlign;
    p.offset = offset;
    offset += p.tensor.numel();
    used_ += p.tensor.numel();
  }
  int64_t multiple = std::lcm(pad_multiple, int64_t{64});
  padded_ = std::max<int64_t>(multiple, (offset + multiple - 1) / multiple * multiple);
  flat_params_ = Tensor::zeros({padded_}, dtype_, device_);
  flat_grads_ = Tensor::zeros({padded_}, dtype_, device_);
  for (ParamInfo& p : params_) {
    TensorImpl& t = p.tensor.impl();
    t.storage = flat_params_.impl().storage;
    t.offset = p.offset;
    auto g = std::make_shared<TensorImpl>();
    g->storage = flat_grads_.impl().storage;
    g->offset = p.offset;
    g->shape = t.shape;
    g->dtype = dtype_;
    g->device = device_;
    g->name = p.name + ".grad";
    t.grad = g;
  }
  finalized_ = true;
}

void ParamStore::initialize(uint64_t seed) {
  ATTN_CHECK(finalized_, "initialize() before finalize()");
  for (size_t i = 0; i < params_.size(); ++i) {
    ParamInfo& p = params_[i];
    switch (p.init.kind) {
      case ParamInit::Kind::kZeros:
        p.tensor.zero_();
        break;
      case ParamInit::Kind::kOnes:
        p.tensor.fill_(1.0);
        break;
      case ParamInit::Kind::kConstant:
        p.tensor.fill_(p.init.a);
        break;
      case ParamInit::Kind::kNormal:
        fill_normal(p.tensor, seed, i, p.init.a, p.init.b);
        break;
      case ParamInit::Kind::kUniform:
        fill_uniform(p.tensor, seed, i, p.init.a, p.init.b);
        break;
    }
  }
}

void ParamStore::zero_grad() {
  ATTN_CHECK(finalized_, "zero_grad() before finalize()");
  flat_grads_.zero_();
}

Tensor ParamStore::new_state_buffer() const {
  ATTN_CHECK(finalized_, "state buffer requested before finalize()");
  return Tensor::zeros({padded_}, dtype_, device_);
}

const ParamInfo& ParamStore::find(const std::string& name) const {
  for (const ParamInfo& p : params_)
    if (p.name == name) return p;
  ATTN_FAIL(kInput, "no parameter named '{}'", name);
}

ParamGradsOff::ParamGradsOff(const ParamStore& store) {
  for (const ParamInfo& p : store.params())
    if (p.updated()) {
      params_.push_back(p.tensor);
      params_.back().set_requires_grad(false);
    }
}

ParamGradsOff::~ParamGradsOff() {
  for (Tensor& t : params_) t.set_requires_grad(true);
}

}  // namespace attn
