#include "framework/core/shape.h"

#include "framework/core/error.h"

namespace attn {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(const std::vector<int64_t>& dims) {
  ATTN_CHECK(dims.size() <= kMaxDims, "{} dims, at most {} supported", dims.size(), kMaxDims);
  for (int64_t d : dims) ATTN_CHECK(d >= 0, "negative dimension {}", d);
  ndim_ = static_cast<int>(dims.size());
  for (int i = 0; i < ndim_; ++i) dims_[i] = dims[i];
}

int64_t Shape::numel() const {
  return prod(0, ndim_);
}

int64_t Shape::prod(int begin, int end) const {
  int64_t n = 1;
  for (int i = begin; i < end; ++i) n *= dims_[i];
  return n;
}

int Shape::axis(int i) const {
  int a = i < 0 ? i + ndim_ : i;
  ATTN_CHECK(a >= 0 && a < ndim_, "axis {} out of range for shape {}", i, str());
  return a;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < ndim_; ++i) s += (i ? ", " : "") + std::to_string(dims_[i]);
  return s + "]";
}

bool Shape::operator==(const Shape& o) const {
  if (ndim_ != o.ndim_) return false;
  for (int i = 0; i < ndim_; ++i)
    if (dims_[i] != o.dims_[i]) return false;
  return true;
}

}  // namespace attn
