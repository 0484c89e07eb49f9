// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of TFRecord framing, plus
// the TFRecord mask that keeps a CRC of data containing CRCs from being trivially zero.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attn {

// Extends `crc` (0 for a fresh checksum) over `n` bytes; crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);

// TFRecord's masking: rotate right by 15 and add a constant.
inline uint32_t crc32c_mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
inline uint32_t crc32c_unmask(uint32_t masked) {
  const uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace attn
