// Element types of tensors. f32 is the default everywhere; f64 exists on CPU so every gradient
// check runs in double; bf16 is GPU storage only (f32 accumulation); i32/i64 hold indices.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attn {

enum class DType : uint8_t { kF32, kF64, kBF16, kI32, kI64 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32:
      return 4;
    case DType::kF64:
      return 8;
    case DType::kBF16:
      return 2;
    case DType::kI32:
      return 4;
    case DType::kI64:
      return 8;
  }
  return 0;
}

const char* dtype_name(DType t);

constexpr bool is_floating(DType t) {
  return t == DType::kF32 || t == DType::kF64 || t == DType::kBF16;
}

template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::kF32;
};
template <>
struct DTypeOf<double> {
  static constexpr DType value = DType::kF64;
};
template <>
struct DTypeOf<int32_t> {
  static constexpr DType value = DType::kI32;
};
template <>
struct DTypeOf<int64_t> {
  static constexpr DType value = DType::kI64;
};

// bf16 values are stored and accessed as their raw 16-bit patterns (see bf16.h).
template <>
struct DTypeOf<uint16_t> {
  static constexpr DType value = DType::kBF16;
};

template <typename T>
constexpr DType dtype_of = DTypeOf<T>::value;

}  // namespace attn
