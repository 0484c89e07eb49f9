// A tensor shape of up to kMaxDims dimensions, stored inline (no heap allocation per tensor).
// Negative dimension indices count from the back, as in NumPy.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace attn {

constexpr int kMaxDims = 6;

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);

  int ndim() const { return ndim_; }
  int64_t numel() const;
  int64_t operator[](int i) const { return dims_[axis(i)]; }
  int64_t& operator[](int i) { return dims_[axis(i)]; }
  int64_t back() const { return dims_[ndim_ - 1]; }
  // Product of dims [begin, end).
  int64_t prod(int begin, int end) const;
  // Normalise a possibly negative axis; throws on out-of-range.
  int axis(int i) const;
  std::vector<int64_t> vec() const { return {dims_.begin(), dims_.begin() + ndim_}; }
  std::string str() const;
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }

 private:
  std::array<int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

}  // namespace attn
