// safetensors files: u64 little-endian header length N, N bytes of JSON (name -> dtype, shape,
// data_offsets; optional "__metadata__" of strings) padded to 8, then the tensors' bytes.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/io/file_util.h"

namespace attn {

// Writes `tensors` (F32, F64, I32, I64, BF16; non-CPU tensors are copied to the host) in the
// given order, with optional string metadata. Atomic: temp file in the same dir, fsync, rename.
// Throws kInput for duplicate or reserved names, kIo for file errors.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The serialised bytes that write_safetensors puts in the file.
std::string encode_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                               const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  std::string path;  // for error messages
  std::map<std::string, std::string> metadata;
  std::vector<std::pair<std::string, Tensor>> tensors;  // file order (sorted by offset)
  const Tensor& get(const std::string& name) const;     // kInput error naming the file if absent
  bool has(const std::string& name) const;
};

// Reads and validates the whole file into CPU tensors. Any malformed input (short file, bad
// JSON, unknown dtype, offsets out of range, overlapping or leaving holes, sizes not matching
// the shape, duplicate names, non-string metadata) throws kInput (bad input, exit 2) naming the
// path and byte offset; failing to read the file at all is kIo.
SafetensorsFile read_safetensors(const std::string& path);

// Same validation on bytes already in memory; `path` only labels errors.
SafetensorsFile decode_safetensors(std::string_view bytes, const std::string& path);

}  // namespace attn
